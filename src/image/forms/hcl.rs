//! HCL `image = "name:tag"` (Terraform, Nomad): an attribute named `image` with a string.

use super::{Candidate, inline_at};

pub(super) fn candidates(text: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let value = line
            .trim_start()
            .strip_prefix("image")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('"'));
        if let Some(value) = value
            && let Some(end) = value.find('"')
        {
            let at = line_start + (value.as_ptr() as usize - line.as_ptr() as usize);
            found.extend(inline_at(&value[..end], at));
        }
        line_start += line.len();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_attributes_name_images() {
        let text = "task \"web\" {\n  config {\n    image = \"redis:7-alpine\"\n    images = \"x:1\"\n  }\n}\n";
        let found = candidates(text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "redis");
        assert_eq!(&text[found[0].tag.clone().unwrap().span], "7-alpine");
    }
}
