//! Documents people write by hand, such as a catalog: YAML, or JSON, read with the line and column of any mistake so
//! that the CLI and the web UI point at the same place.

use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    Json,
}

impl Syntax {
    /// What a pasted document is written in: JSON opens with a brace, anything else is read as YAML.
    pub fn of_text(source: &str) -> Self {
        if source.trim_start().starts_with('{') {
            Self::Json
        } else {
            Self::Yaml
        }
    }
}

/// Reads a document, or says what is wrong with it and where.
pub fn parse<T: DeserializeOwned>(source: &str, syntax: Syntax) -> Result<T, String> {
    match syntax {
        Syntax::Json => serde_json::from_str(source).map_err(|e| e.to_string()),
        Syntax::Yaml => serde_yaml_ng::from_str(source).map_err(|e| match e.location() {
            Some(at) if !e.to_string().contains(" line ") => {
                format!("{e} at line {} column {}", at.line(), at.column())
            }
            _ => e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        tier: u8,
    }

    #[test]
    fn mistakes_name_their_line_in_either_syntax() {
        let yaml =
            parse::<Doc>("name: checkout\ntier: many\n", Syntax::of_text("name: x")).unwrap_err();
        assert!(yaml.contains("line 2"), "{yaml}");
        let json =
            parse::<Doc>("{\"name\": \"checkout\",\n \"tyre\": 1}", Syntax::Json).unwrap_err();
        assert!(json.contains("line 2") && json.contains("tyre"), "{json}");
        assert_eq!(Syntax::of_text("  {\"a\": 1}"), Syntax::Json);
        assert!(parse::<Doc>("name: checkout\ntier: 1\n", Syntax::Yaml).is_ok());
    }
}
