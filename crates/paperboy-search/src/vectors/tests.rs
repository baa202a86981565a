use std::collections::HashSet;

use super::*;

fn unit(seed: u32) -> Vec<f32> {
    let raw: Vec<f32> = (0..DIMENSIONS as u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 1000) as f32 - 500.0
        })
        .collect();
    normalised(raw)
}

fn normalised(raw: Vec<f32>) -> Vec<f32> {
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    raw.iter().map(|x| x / norm).collect()
}

fn index(papers: u32) -> VectorIndex {
    let mut index = VectorIndex::with_capacity(papers as usize);
    for n in 0..papers {
        index.push(PaperId(i64::from(n) + 1), &unit(n));
    }
    index
}

/// An index in memory of `vectors` (paper ids from 1), writing a graph from `ann_from` papers up.
fn in_memory(vectors: &[Vec<f32>], ann_from: usize) -> VectorIndex {
    let mut memory = VectorIndex::with_capacity(vectors.len()).with_ann_from(ann_from);
    for (n, vector) in vectors.iter().enumerate() {
        memory.push(PaperId(n as i64 + 1), vector);
    }
    memory
}

/// Deterministic standard normal values (splitmix64 and Box–Muller).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    fn vector(&mut self) -> Vec<f32> {
        normalised((0..DIMENSIONS).map(|_| self.next()).collect())
    }

    /// `centre` moved by noise of about `spread` of its length, normalised again.
    fn near(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        let step = spread / (DIMENSIONS as f32).sqrt();
        normalised(
            centre
                .iter()
                .map(|value| value + step * self.next())
                .collect(),
        )
    }
}

/// Papers clustered around topics the way embeddings are (many neighbours at cosines of
/// 0.6–0.8), and queries near the same topics.
fn clustered(papers: usize, queries: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut normal = Normal(7);
    let topics: Vec<Vec<f32>> = (0..40).map(|_| normal.vector()).collect();
    let vectors = (0..papers)
        .map(|n| {
            let topic = &topics[n % topics.len()];
            normal.near(topic, 0.9)
        })
        .collect();
    let queries = (0..queries)
        .map(|n| normal.near(&topics[(n * 7) % topics.len()], 1.0))
        .collect();
    (vectors, queries)
}

fn recall(found: &[Hit], exact: &[Hit]) -> f64 {
    let exact: HashSet<PaperId> = exact.iter().map(|hit| hit.id).collect();
    found.iter().filter(|hit| exact.contains(&hit.id)).count() as f64 / exact.len() as f64
}

#[test]
fn finds_the_exact_top_hits_in_order() {
    let index = index(500);
    let query = unit(42);
    let hits = index.search(&query, 10, |_| true);
    assert_eq!(hits[0].id, PaperId(43));
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    let mut brute: Vec<(f32, PaperId)> = (1..=500)
        .map(|n| {
            (
                dot(&query, &index.vector_of(PaperId(n)).unwrap()),
                PaperId(n),
            )
        })
        .collect();
    brute.sort_by(|a, b| b.0.total_cmp(&a.0));
    let expected: Vec<PaperId> = brute.iter().take(10).map(|(_, id)| *id).collect();
    assert_eq!(hits.iter().map(|hit| hit.id).collect::<Vec<_>>(), expected);
    assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
}

#[test]
fn the_quantised_scan_returns_the_exact_hits_and_scores() {
    let index = index(2000);
    for seed in [3, 500, 1999, 4242] {
        let query = unit(seed);
        for limit in [1, 10, 100] {
            let exact = index.search_exact(&query, limit);
            assert_eq!(exact.len(), limit);
            assert_eq!(index.search(&query, limit, |_| true), exact, "seed {seed}");
        }
    }
}

#[test]
fn quantising_keeps_a_vector_to_within_half_a_step() {
    let vector = unit(11);
    let mut codes = Vec::new();
    let scale = quantise(&vector, &mut codes);
    assert_eq!(codes.len(), DIMENSIONS);
    assert!(codes.iter().any(|&code| code.abs() == 127));
    for (value, code) in vector.iter().zip(&codes) {
        assert!((value - f32::from(*code) * scale).abs() <= scale / 2.0 + 1e-7);
    }
    let mut zero_codes = Vec::new();
    assert_eq!(quantise(&[0.0; DIMENSIONS], &mut zero_codes), 1.0);
    assert!(zero_codes.iter().all(|&code| code == 0));
}

#[test]
fn filters_apply_before_the_limit() {
    let index = index(100);
    let hits = index.search(&unit(7), 5, |id| id.0 % 2 == 0 && id != PaperId(8));
    assert_eq!(hits.len(), 5);
    assert!(
        hits.iter()
            .all(|hit| hit.id.0 % 2 == 0 && hit.id != PaperId(8))
    );
    assert!(index.search(&unit(7), 0, |_| true).is_empty());
    assert!(
        index.search(&[1.0, 2.0], 5, |_| true).is_empty(),
        "a query of the wrong size finds nothing"
    );
}

#[test]
fn a_saved_index_is_mapped_back_whole_and_damaged_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors/minilm.bin");
    let original = index(50);
    let saved = original.save(&path).unwrap();
    assert_eq!(saved.len(), 50);
    assert_eq!(saved.delta_len(), 0, "everything is in the mapped base");
    assert!(!saved.has_ann(), "50 papers are scanned");
    let opened = VectorIndex::open(&path, None).unwrap();
    assert_eq!(VectorIndex::count_in(&path, None).unwrap(), 50);
    for n in [1, 9, 50] {
        assert_eq!(opened.vector_of(PaperId(n)), original.vector_of(PaperId(n)));
    }
    assert_eq!(opened.vector_of(PaperId(51)), None);
    assert_eq!(
        opened.search(&unit(3), 10, |_| true),
        original.search(&unit(3), 10, |_| true)
    );
    assert!(is_current(&path));

    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert!(VectorIndex::count_in(&path, None).is_err());
    let error = VectorIndex::open(&path, None).unwrap_err().to_string();
    assert!(error.contains("truncated"), "{error}");
    let mut old = b"PBVEC001".to_vec();
    old.extend_from_slice(&bytes[8..]);
    std::fs::write(&path, &old).unwrap();
    assert!(
        !is_current(&path),
        "an earlier version's file is built again"
    );
    assert!(VectorIndex::open(&path, None).is_err());
    std::fs::write(&path, b"garbage!garbage!garbage!").unwrap();
    assert!(VectorIndex::open(&path, None).is_err());
}

#[test]
fn a_delta_shadows_the_base_until_it_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let (path, delta_path) = (dir.path().join("v.bin"), dir.path().join("v.delta"));
    let base = index(300).save(&path).unwrap();
    // Paper 5 moves to where paper 200's vector was; paper 301 is new.
    let changed = base.with_papers([
        (PaperId(5), unit(199).as_slice()),
        (PaperId(301), unit(1000).as_slice()),
    ]);
    assert_eq!((changed.len(), changed.delta_len()), (301, 2));
    assert_eq!(base.len(), 300, "the index it came from is unchanged");
    let check = |index: &VectorIndex| {
        assert_eq!(index.len(), 301);
        assert_eq!(index.vector_of(PaperId(5)), Some(unit(199)));
        let near_200 = index.search(&unit(199), 2, |_| true);
        let ids: HashSet<PaperId> = near_200.iter().map(|hit| hit.id).collect();
        assert_eq!(ids, HashSet::from([PaperId(5), PaperId(200)]));
        let near_old_5 = index.search(&unit(4), 3, |_| true);
        assert!(
            near_old_5
                .iter()
                .all(|hit| hit.id != PaperId(5) || hit.score < 0.99)
        );
        assert_eq!(index.search(&unit(1000), 1, |_| true)[0].id, PaperId(301));
        assert_eq!(
            index.search_exact(&unit(4), 10),
            index.search(&unit(4), 10, |_| true)
        );
        assert_eq!(index.ids().count(), 301);
    };
    check(&changed);

    changed.save_delta(&delta_path).unwrap();
    let reopened = VectorIndex::open(&path, Some(&delta_path)).unwrap();
    assert_eq!(reopened.delta_len(), 2);
    assert_eq!(
        VectorIndex::count_in(&path, Some(&delta_path)).unwrap(),
        301
    );
    check(&reopened);

    let compacted = reopened.save(&path).unwrap();
    assert_eq!(compacted.delta_len(), 0);
    compacted.save_delta(&delta_path).unwrap();
    assert!(!delta_path.exists(), "an empty delta leaves no file");
    check(&compacted);
    check(&VectorIndex::open(&path, Some(&delta_path)).unwrap());
}

#[test]
fn the_graph_is_used_from_the_threshold_up_and_keeps_recall() {
    let dir = tempfile::tempdir().unwrap();
    let (vectors, queries) = clustered(4_000, 40);
    let memory = in_memory(&vectors, 4_000);
    let below = memory
        .clone()
        .with_ann_from(4_001)
        .save(&dir.path().join("below.bin"))
        .unwrap();
    assert!(!below.has_ann(), "one paper short of the threshold scans");
    let path = dir.path().join("v.bin");
    let index = memory.save(&path).unwrap();
    assert!(index.has_ann(), "at the threshold a graph is built");
    assert!(ann_path(&path, 0).exists());

    let (mut at_10, mut at_100) = (0.0, 0.0);
    for query in &queries {
        let hits = index.search(query, 100, |_| true);
        at_100 += recall(&hits, &index.search_exact(query, 100));
        let hits = index.search(query, 10, |_| true);
        at_10 += recall(&hits, &index.search_exact(query, 10));
        let scored_exactly = hits
            .iter()
            .all(|hit| hit.score == dot(query, &index.vector_of(hit.id).unwrap()));
        assert!(scored_exactly);
    }
    let count = queries.len() as f64;
    assert!(at_10 / count >= 0.98, "recall@10 {}", at_10 / count);
    assert!(at_100 / count >= 0.95, "recall@100 {}", at_100 / count);
}

/// The exact top `limit` among the papers `keep` admits.
fn exact_where(
    index: &VectorIndex,
    query: &[f32],
    limit: usize,
    keep: impl Fn(PaperId) -> bool,
) -> Vec<Hit> {
    let mut all = index.search_exact(query, index.len());
    all.retain(|hit| keep(hit.id));
    all.truncate(limit);
    all
}

#[test]
fn graph_searches_honour_filters_and_fill_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (vectors, queries) = clustered(3_000, 20);
    let memory = in_memory(&vectors, 1_000);
    let index = memory.save(&dir.path().join("v.bin")).unwrap();
    assert!(index.has_ann());
    let one_in_ten = |id: PaperId| id.0 % 10 == 3;
    let five = |id: PaperId| [17, 512, 1_000, 2_222, 2_999].contains(&id.0);
    let mut found = 0.0;
    for query in &queries {
        let hits = index.search(query, 50, one_in_ten);
        assert_eq!(
            hits.len(),
            50,
            "a filter admitting 300 papers fills a page of 50"
        );
        assert!(hits.iter().all(|hit| one_in_ten(hit.id)));
        found += recall(&hits, &exact_where(&index, query, 50, one_in_ten));
        // A filter too narrow for the walk falls back to scanning what it admits.
        let hits = index.search(query, 10, five);
        assert_eq!(hits, exact_where(&index, query, 10, five));
        assert_eq!(hits.len(), 5);
    }
    assert!(
        found / queries.len() as f64 >= 0.95,
        "filtered recall {found}"
    );
}

#[test]
fn changes_reach_a_graph_search_and_a_compaction_updates_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.bin");
    let (vectors, queries) = clustered(2_000, 5);
    let memory = in_memory(&vectors, 1_000);
    let index = memory.save(&path).unwrap();
    // Paper 1 takes the first query's own vector; a new paper the second's.
    let changed = index.with_papers([
        (PaperId(1), queries[0].as_slice()),
        (PaperId(5_000), queries[1].as_slice()),
    ]);
    let check = |index: &VectorIndex| {
        assert!(index.has_ann());
        assert_eq!(index.len(), 2_001);
        let top = index.search(&queries[0], 10, |_| true);
        assert_eq!(top[0].id, PaperId(1));
        assert!((top[0].score - 1.0).abs() < 1e-5);
        assert_eq!(index.search(&queries[1], 1, |_| true)[0].id, PaperId(5_000));
        let old_one = &vectors[0];
        let near_old = index.search(old_one, 5, |_| true);
        assert!(
            near_old.iter().all(|hit| hit.id != PaperId(1)),
            "the old vector is gone"
        );
    };
    check(&changed);
    let compacted = changed.save(&path).unwrap();
    assert_eq!(compacted.delta_len(), 0);
    assert!(ann_path(&path, 1).exists() && !ann_path(&path, 0).exists());
    check(&compacted);
    check(&VectorIndex::open(&path, None).unwrap());
    // A graph missing beside its base (a crash, or deleted) is built again on opening.
    std::fs::remove_file(ann_path(&path, 1)).unwrap();
    check(&VectorIndex::open_building(&path, None, 1_000).unwrap());
}

/// A graph an earlier version wrote with half-precision floats is searched with the query's
/// codes and updated with the delta's codes as it is: usearch converts them to the file's kind.
#[test]
fn an_earlier_versions_f16_graph_is_searched_and_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.bin");
    let (vectors, queries) = clustered(2_000, 20);
    let memory = in_memory(&vectors, 1_000);
    drop(memory.save(&path).unwrap());
    let ids: Vec<i64> = (1..=vectors.len() as i64).collect();
    let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
    let f16 = crate::ann::build_in_memory(&ids, &flat, usearch::ScalarKind::F16).unwrap();
    std::fs::remove_file(ann_path(&path, 0)).unwrap();
    f16.save(&ann_path(&path, 0).to_string_lossy()).unwrap();

    let index = VectorIndex::open(&path, None).unwrap();
    assert!(index.has_ann());
    let mut at_10 = 0.0;
    for query in &queries {
        at_10 += recall(
            &index.search(query, 10, |_| true),
            &index.search_exact(query, 10),
        );
    }
    assert!(at_10 / queries.len() as f64 >= 0.98, "recall@10 {at_10}");
    let compacted = index
        .with_papers([(PaperId(9_000), queries[0].as_slice())])
        .save(&path)
        .unwrap();
    assert_eq!(
        compacted.search(&queries[0], 1, |_| true)[0].id,
        PaperId(9_000)
    );
}
