//! Reading values out of rendered pages; the binary's end-to-end tests use it too.

/// The value of the first hidden `name` input of a page.
pub fn input_value(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} input in:\n{page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}
