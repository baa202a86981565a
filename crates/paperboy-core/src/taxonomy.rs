//! The arXiv category taxonomy: which strings are category codes, what they are called, and how
//! the human-readable subjects of OAI-PMH `oai_dc` records map back to codes.

/// Whether `code` has the shape of an arXiv category code: an archive (`cs`, `hep-th`,
/// `q-bio`) optionally followed by a dot and a subject class (`cs.LG`, `physics.soc-ph`,
/// `math.GT`). Unknown but well-formed codes are accepted: arXiv adds categories over time.
pub fn is_well_formed_code(code: &str) -> bool {
    let (archive, class) = match code.split_once('.') {
        Some((archive, class)) => (archive, Some(class)),
        None => (code, None),
    };
    let archive_ok = !archive.is_empty()
        && archive
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()));
    let class_ok = class.is_none_or(|class| {
        !class.is_empty()
            && class.len() <= 20
            && class
                .split('-')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphabetic()))
    });
    archive_ok && class_ok && code.len() <= 30
}

/// One row of the taxonomy: a category's code (`cs.LG`) and its official name (`Machine
/// Learning`). A filter by category or archive is a [`crate::Category`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub code: &'static str,
    pub name: &'static str,
}

const fn cat(code: &'static str, name: &'static str) -> Entry {
    Entry { code, name }
}

/// Every arXiv category, sorted by code: the current taxonomy
/// (<https://arxiv.org/category_taxonomy>) plus the archive-level and retired codes that still
/// appear on old papers (`astro-ph`, `cmp-lg`, `solv-int`, ...).
pub static CATEGORIES: &[Entry] = &[
    cat("acc-phys", "Accelerator Physics (legacy)"),
    cat(
        "adap-org",
        "Adaptation, Noise, and Self-Organizing Systems (legacy)",
    ),
    cat("alg-geom", "Algebraic Geometry (legacy)"),
    cat("ao-sci", "Atmospheric-Oceanic Sciences (legacy)"),
    cat("astro-ph", "Astrophysics"),
    cat("astro-ph.CO", "Cosmology and Nongalactic Astrophysics"),
    cat("astro-ph.EP", "Earth and Planetary Astrophysics"),
    cat("astro-ph.GA", "Astrophysics of Galaxies"),
    cat("astro-ph.HE", "High Energy Astrophysical Phenomena"),
    cat(
        "astro-ph.IM",
        "Instrumentation and Methods for Astrophysics",
    ),
    cat("astro-ph.SR", "Solar and Stellar Astrophysics"),
    cat("atom-ph", "Atomic, Molecular and Optical Physics (legacy)"),
    cat("bayes-an", "Bayesian Analysis (legacy)"),
    cat("chao-dyn", "Chaotic Dynamics (legacy)"),
    cat("chem-ph", "Chemical Physics (legacy)"),
    cat("cmp-lg", "Computation and Language (legacy)"),
    cat("comp-gas", "Cellular Automata and Lattice Gases (legacy)"),
    cat("cond-mat", "Condensed Matter"),
    cat("cond-mat.dis-nn", "Disordered Systems and Neural Networks"),
    cat("cond-mat.mes-hall", "Mesoscale and Nanoscale Physics"),
    cat("cond-mat.mtrl-sci", "Materials Science"),
    cat("cond-mat.other", "Other Condensed Matter"),
    cat("cond-mat.quant-gas", "Quantum Gases"),
    cat("cond-mat.soft", "Soft Condensed Matter"),
    cat("cond-mat.stat-mech", "Statistical Mechanics"),
    cat("cond-mat.str-el", "Strongly Correlated Electrons"),
    cat("cond-mat.supr-con", "Superconductivity"),
    cat("cs", "Computer Science"),
    cat("cs.AI", "Artificial Intelligence"),
    cat("cs.AR", "Hardware Architecture"),
    cat("cs.CC", "Computational Complexity"),
    cat("cs.CE", "Computational Engineering, Finance, and Science"),
    cat("cs.CG", "Computational Geometry"),
    cat("cs.CL", "Computation and Language"),
    cat("cs.CR", "Cryptography and Security"),
    cat("cs.CV", "Computer Vision and Pattern Recognition"),
    cat("cs.CY", "Computers and Society"),
    cat("cs.DB", "Databases"),
    cat("cs.DC", "Distributed, Parallel, and Cluster Computing"),
    cat("cs.DL", "Digital Libraries"),
    cat("cs.DM", "Discrete Mathematics"),
    cat("cs.DS", "Data Structures and Algorithms"),
    cat("cs.ET", "Emerging Technologies"),
    cat("cs.FL", "Formal Languages and Automata Theory"),
    cat("cs.GL", "General Literature"),
    cat("cs.GR", "Graphics"),
    cat("cs.GT", "Computer Science and Game Theory"),
    cat("cs.HC", "Human-Computer Interaction"),
    cat("cs.IR", "Information Retrieval"),
    cat("cs.IT", "Information Theory"),
    cat("cs.LG", "Machine Learning"),
    cat("cs.LO", "Logic in Computer Science"),
    cat("cs.MA", "Multiagent Systems"),
    cat("cs.MM", "Multimedia"),
    cat("cs.MS", "Mathematical Software"),
    cat("cs.NA", "Numerical Analysis"),
    cat("cs.NE", "Neural and Evolutionary Computing"),
    cat("cs.NI", "Networking and Internet Architecture"),
    cat("cs.OH", "Other Computer Science"),
    cat("cs.OS", "Operating Systems"),
    cat("cs.PF", "Performance"),
    cat("cs.PL", "Programming Languages"),
    cat("cs.RO", "Robotics"),
    cat("cs.SC", "Symbolic Computation"),
    cat("cs.SD", "Sound"),
    cat("cs.SE", "Software Engineering"),
    cat("cs.SI", "Social and Information Networks"),
    cat("cs.SY", "Systems and Control"),
    cat("dg-ga", "Differential Geometry (legacy)"),
    cat("econ.EM", "Econometrics"),
    cat("econ.GN", "General Economics"),
    cat("econ.TH", "Theoretical Economics"),
    cat("eess.AS", "Audio and Speech Processing"),
    cat("eess.IV", "Image and Video Processing"),
    cat("eess.SP", "Signal Processing"),
    cat("eess.SY", "Systems and Control"),
    cat("funct-an", "Functional Analysis (legacy)"),
    cat("gr-qc", "General Relativity and Quantum Cosmology"),
    cat("hep-ex", "High Energy Physics - Experiment"),
    cat("hep-lat", "High Energy Physics - Lattice"),
    cat("hep-ph", "High Energy Physics - Phenomenology"),
    cat("hep-th", "High Energy Physics - Theory"),
    cat("math", "Mathematics"),
    cat("math-ph", "Mathematical Physics"),
    cat("math.AC", "Commutative Algebra"),
    cat("math.AG", "Algebraic Geometry"),
    cat("math.AP", "Analysis of PDEs"),
    cat("math.AT", "Algebraic Topology"),
    cat("math.CA", "Classical Analysis and ODEs"),
    cat("math.CO", "Combinatorics"),
    cat("math.CT", "Category Theory"),
    cat("math.CV", "Complex Variables"),
    cat("math.DG", "Differential Geometry"),
    cat("math.DS", "Dynamical Systems"),
    cat("math.FA", "Functional Analysis"),
    cat("math.GM", "General Mathematics"),
    cat("math.GN", "General Topology"),
    cat("math.GR", "Group Theory"),
    cat("math.GT", "Geometric Topology"),
    cat("math.HO", "History and Overview"),
    cat("math.IT", "Information Theory"),
    cat("math.KT", "K-Theory and Homology"),
    cat("math.LO", "Logic"),
    cat("math.MG", "Metric Geometry"),
    cat("math.MP", "Mathematical Physics"),
    cat("math.NA", "Numerical Analysis"),
    cat("math.NT", "Number Theory"),
    cat("math.OA", "Operator Algebras"),
    cat("math.OC", "Optimization and Control"),
    cat("math.PR", "Probability"),
    cat("math.QA", "Quantum Algebra"),
    cat("math.RA", "Rings and Algebras"),
    cat("math.RT", "Representation Theory"),
    cat("math.SG", "Symplectic Geometry"),
    cat("math.SP", "Spectral Theory"),
    cat("math.ST", "Statistics Theory"),
    cat("mtrl-th", "Materials Theory (legacy)"),
    cat("nlin", "Nonlinear Sciences"),
    cat("nlin.AO", "Adaptation and Self-Organizing Systems"),
    cat("nlin.CD", "Chaotic Dynamics"),
    cat("nlin.CG", "Cellular Automata and Lattice Gases"),
    cat("nlin.PS", "Pattern Formation and Solitons"),
    cat("nlin.SI", "Exactly Solvable and Integrable Systems"),
    cat("nucl-ex", "Nuclear Experiment"),
    cat("nucl-th", "Nuclear Theory"),
    cat("patt-sol", "Pattern Formation and Solitons (legacy)"),
    cat("physics", "Physics"),
    cat("physics.acc-ph", "Accelerator Physics"),
    cat("physics.ao-ph", "Atmospheric and Oceanic Physics"),
    cat("physics.app-ph", "Applied Physics"),
    cat("physics.atm-clus", "Atomic and Molecular Clusters"),
    cat("physics.atom-ph", "Atomic Physics"),
    cat("physics.bio-ph", "Biological Physics"),
    cat("physics.chem-ph", "Chemical Physics"),
    cat("physics.class-ph", "Classical Physics"),
    cat("physics.comp-ph", "Computational Physics"),
    cat(
        "physics.data-an",
        "Data Analysis, Statistics and Probability",
    ),
    cat("physics.ed-ph", "Physics Education"),
    cat("physics.flu-dyn", "Fluid Dynamics"),
    cat("physics.gen-ph", "General Physics"),
    cat("physics.geo-ph", "Geophysics"),
    cat("physics.hist-ph", "History and Philosophy of Physics"),
    cat("physics.ins-det", "Instrumentation and Detectors"),
    cat("physics.med-ph", "Medical Physics"),
    cat("physics.optics", "Optics"),
    cat("physics.plasm-ph", "Plasma Physics"),
    cat("physics.pop-ph", "Popular Physics"),
    cat("physics.soc-ph", "Physics and Society"),
    cat("physics.space-ph", "Space Physics"),
    cat("plasm-ph", "Plasma Physics (legacy)"),
    cat("q-alg", "Quantum Algebra and Topology (legacy)"),
    cat("q-bio", "Quantitative Biology"),
    cat("q-bio.BM", "Biomolecules"),
    cat("q-bio.CB", "Cell Behavior"),
    cat("q-bio.GN", "Genomics"),
    cat("q-bio.MN", "Molecular Networks"),
    cat("q-bio.NC", "Neurons and Cognition"),
    cat("q-bio.OT", "Other Quantitative Biology"),
    cat("q-bio.PE", "Populations and Evolution"),
    cat("q-bio.QM", "Quantitative Methods"),
    cat("q-bio.SC", "Subcellular Processes"),
    cat("q-bio.TO", "Tissues and Organs"),
    cat("q-fin.CP", "Computational Finance"),
    cat("q-fin.EC", "Economics"),
    cat("q-fin.GN", "General Finance"),
    cat("q-fin.MF", "Mathematical Finance"),
    cat("q-fin.PM", "Portfolio Management"),
    cat("q-fin.PR", "Pricing of Securities"),
    cat("q-fin.RM", "Risk Management"),
    cat("q-fin.ST", "Statistical Finance"),
    cat("q-fin.TR", "Trading and Market Microstructure"),
    cat("quant-ph", "Quantum Physics"),
    cat(
        "solv-int",
        "Exactly Solvable and Integrable Systems (legacy)",
    ),
    cat("stat.AP", "Applications"),
    cat("stat.CO", "Computation"),
    cat("stat.ME", "Methodology"),
    cat("stat.ML", "Machine Learning"),
    cat("stat.OT", "Other Statistics"),
    cat("stat.TH", "Statistics Theory"),
    cat("supr-con", "Superconductivity (legacy)"),
];

/// The group that `oai_dc` subjects put before the name of a category in each archive that has
/// subject classes: "Statistics - Machine Learning" is `stat.ML`. Categories of other archives
/// (`hep-th`, `quant-ph`) appear under their name alone.
const ARCHIVE_GROUPS: &[(&str, &str)] = &[
    ("astro-ph", "Astrophysics"),
    ("cond-mat", "Condensed Matter"),
    ("cs", "Computer Science"),
    ("econ", "Economics"),
    ("eess", "Electrical Engineering and Systems Science"),
    ("math", "Mathematics"),
    ("nlin", "Nonlinear Sciences"),
    ("physics", "Physics"),
    ("q-bio", "Quantitative Biology"),
    ("q-fin", "Quantitative Finance"),
    ("stat", "Statistics"),
];

/// Subjects that older `oai_dc` records use for categories since renamed or regrouped: each
/// with the category it now is.
const FORMER_SUBJECTS: &[(&str, &str)] = &[
    ("astro-ph.GA", "Astrophysics - Galaxy Astrophysics"),
    (
        "cond-mat.dis-nn",
        "Physics - Disordered Systems and Neural Networks",
    ),
    (
        "cond-mat.mes-hall",
        "Condensed Matter - Mesoscopic Systems and Quantum Hall Effect",
    ),
    (
        "cond-mat.mes-hall",
        "Physics - Mesoscopic Systems and Quantum Hall Effect",
    ),
    ("cond-mat.mtrl-sci", "Physics - Materials Science"),
    ("cond-mat.other", "Physics - Other"),
    ("cond-mat.soft", "Physics - Soft Condensed Matter"),
    ("cond-mat.stat-mech", "Physics - Statistical Mechanics"),
    ("cond-mat.str-el", "Physics - Strongly Correlated Electrons"),
    ("cond-mat.supr-con", "Physics - Superconductivity"),
    ("cs.AR", "Computer Science - Architecture"),
    ("cs.LG", "Computer Science - Learning"),
    ("cs.OH", "Computer Science - Other"),
    ("math.ST", "Mathematics - Statistics"),
    ("physics.hist-ph", "Physics - History of Physics"),
    ("q-bio.OT", "Quantitative Biology - Other"),
    ("stat.TH", "Statistics - Theory"),
];

/// The official name of the category `code` (exact, case-sensitive), if it is one.
pub fn category_name(code: &str) -> Option<&'static str> {
    CATEGORIES
        .binary_search_by(|category| category.code.cmp(code))
        .ok()
        .map(|index| CATEGORIES[index].name)
}

/// The category code of an OAI-PMH `oai_dc` subject such as "Statistics - Machine Learning"
/// (`stat.ML`), "High Energy Physics - Theory" (`hep-th`) or the former "Computer Science -
/// Learning" (`cs.LG`). Matching ignores case and whitespace and reads `;` as `,`; unknown
/// subjects give `None`.
pub fn code_for_oai_dc_subject(subject: &str) -> Option<&'static str> {
    let current = CATEGORIES
        .iter()
        .map(|category| (category.code, subject_group(category.code), category.name));
    let former = FORMER_SUBJECTS
        .iter()
        .map(|&(code, subject)| (code, None, subject));
    current
        .chain(former)
        .find(|&(_, group, name)| subject_matches(subject, group, name))
        .map(|(code, _, _)| code)
}

/// The `oai_dc` group of a category with a subject class (`cs.LG`), from its archive.
fn subject_group(code: &str) -> Option<&'static str> {
    let (archive, _) = code.split_once('.')?;
    ARCHIVE_GROUPS
        .iter()
        .find(|&&(known, _)| known == archive)
        .map(|&(_, group)| group)
}

/// Whether `subject` reads "`group` - `name`" (or just `name` without a group), compared on
/// [`normalized`] characters.
fn subject_matches(subject: &str, group: Option<&str>, name: &str) -> bool {
    let expected = group
        .into_iter()
        .flat_map(|group| normalized(group).chain(['-']))
        .chain(normalized(name));
    normalized(subject).eq(expected)
}

/// The characters of a subject that count: whitespace dropped, ASCII letters lowercased, and `;`
/// read as `,` (older listings wrote "Distributed; Parallel; and Cluster Computing").
fn normalized(text: &str) -> impl Iterator<Item = char> {
    text.chars().filter(|c| !c.is_whitespace()).map(|c| {
        if c == ';' {
            ','
        } else {
            c.to_ascii_lowercase()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_well_formed_codes() {
        for code in [
            "cs.LG",
            "hep-th",
            "physics.soc-ph",
            "q-bio.PE",
            "adap-org",
            "math.GT",
            "stat.ML",
        ] {
            assert!(is_well_formed_code(code), "{code}");
        }
        for code in [
            "", "cs.", ".LG", "CS.LG", "cs LG", "cs.L1", "cs..LG", "hep-", "<b>",
        ] {
            assert!(!is_well_formed_code(code), "{code}");
        }
    }

    #[test]
    fn names_categories() {
        assert_eq!(category_name("cs.LG"), Some("Machine Learning"));
        assert_eq!(
            category_name("cs.CV"),
            Some("Computer Vision and Pattern Recognition")
        );
        assert_eq!(category_name("stat.ML"), Some("Machine Learning"));
        assert_eq!(category_name("physics.soc-ph"), Some("Physics and Society"));
        assert_eq!(
            category_name("hep-th"),
            Some("High Energy Physics - Theory")
        );
        assert_eq!(
            category_name("astro-ph.GA"),
            Some("Astrophysics of Galaxies")
        );
        assert_eq!(
            category_name("cond-mat.mes-hall"),
            Some("Mesoscale and Nanoscale Physics")
        );
        assert_eq!(category_name("astro-ph"), Some("Astrophysics"));
        assert_eq!(
            category_name("cmp-lg"),
            Some("Computation and Language (legacy)")
        );
        for code in [CATEGORIES[0].code, CATEGORIES[CATEGORIES.len() - 1].code] {
            assert!(category_name(code).is_some(), "{code}");
        }
        for code in ["", "cs.lg", "CS.LG", "cs.XX", "hep", "stat.ML "] {
            assert_eq!(category_name(code), None, "{code}");
        }
    }

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        for pair in CATEGORIES.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} / {}",
                pair[0].code,
                pair[1].code
            );
        }
        for category in CATEGORIES {
            assert!(is_well_formed_code(category.code), "{}", category.code);
            assert!(!category.name.trim().is_empty(), "{}", category.code);
        }
        for &(code, _) in FORMER_SUBJECTS {
            assert!(category_name(code).is_some(), "{code}");
        }
    }

    #[test]
    fn every_subject_class_has_a_group() {
        for category in CATEGORIES.iter().filter(|c| c.code.contains('.')) {
            assert!(subject_group(category.code).is_some(), "{}", category.code);
        }
        // A group is the name of its archive where the archive itself is a (legacy) category.
        for &(archive, group) in ARCHIVE_GROUPS {
            assert!(
                category_name(archive).is_none_or(|name| name == group),
                "{archive}"
            );
        }
    }

    #[test]
    fn maps_oai_dc_subjects() {
        for (subject, code) in [
            ("Statistics - Machine Learning", "stat.ML"),
            ("Computer Science - Machine Learning", "cs.LG"),
            (
                "Computer Science - Computer Vision and Pattern Recognition",
                "cs.CV",
            ),
            ("Computer Science - Learning", "cs.LG"),
            (
                "Computer Science - Neural and Evolutionary Computing",
                "cs.NE",
            ),
            ("Computer Science - Artificial Intelligence", "cs.AI"),
            ("Computer Science - Multimedia", "cs.MM"),
            ("Computer Science - Human-Computer Interaction", "cs.HC"),
            ("High Energy Physics - Theory", "hep-th"),
            ("High Energy Physics - Phenomenology", "hep-ph"),
            ("Quantum Physics", "quant-ph"),
            ("Physics - Instrumentation and Detectors", "physics.ins-det"),
            ("Mathematics - Probability", "math.PR"),
            (
                "Condensed Matter - Mesoscale and Nanoscale Physics",
                "cond-mat.mes-hall",
            ),
            ("Astrophysics - Astrophysics of Galaxies", "astro-ph.GA"),
            ("Quantitative Biology - Neurons and Cognition", "q-bio.NC"),
            (
                "Electrical Engineering and Systems Science - Signal Processing",
                "eess.SP",
            ),
            ("Economics - Econometrics", "econ.EM"),
            ("Quantitative Finance - Statistical Finance", "q-fin.ST"),
            ("Nonlinear Sciences - Chaotic Dynamics", "nlin.CD"),
            ("Mathematical Physics", "math-ph"),
            ("Mathematics - Mathematical Physics", "math.MP"),
            ("General Relativity and Quantum Cosmology", "gr-qc"),
            ("Nuclear Theory", "nucl-th"),
            ("Nuclear Experiment", "nucl-ex"),
            ("Astrophysics", "astro-ph"),
            ("Computer Science", "cs"),
            ("Physics - Superconductivity", "cond-mat.supr-con"),
            (
                "Computer Science - Distributed; Parallel; and Cluster Computing",
                "cs.DC",
            ),
            // Case and whitespace are not significant.
            ("  statistics -   MACHINE learning ", "stat.ML"),
            ("Statistics-Machine Learning", "stat.ML"),
            ("high energy physics-theory", "hep-th"),
            ("Computer\tScience -\nMultimedia", "cs.MM"),
        ] {
            assert_eq!(code_for_oai_dc_subject(subject), Some(code), "{subject}");
        }
        for subject in [
            "",
            "-",
            "Machine Learning",
            "Computer Science - ",
            "Computer Science - Cooking",
            "Statistics - Machine Learning - Extra",
            "cs.LG",
            "Biology - Neurons and Cognition",
        ] {
            assert_eq!(code_for_oai_dc_subject(subject), None, "{subject}");
        }
    }

    #[test]
    fn every_category_and_former_subject_maps_back() {
        for category in CATEGORIES {
            let subject = match subject_group(category.code) {
                Some(group) => format!("{group} - {}", category.name),
                None => category.name.to_owned(),
            };
            assert_eq!(
                code_for_oai_dc_subject(&subject),
                Some(category.code),
                "{subject}"
            );
        }
        for &(code, subject) in FORMER_SUBJECTS {
            assert_eq!(code_for_oai_dc_subject(subject), Some(code), "{subject}");
        }
    }
}
