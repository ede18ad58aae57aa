//! One document tree, two spellings: every Open311 answer is built once as a
//! [`Node`] and written as JSON or as XML, so the two formats cannot drift
//! apart. XML is written with quick-xml, which does the escaping.

use std::io::Cursor;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::{Map, Value};

/// A value in an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Text.
    Text(String),
    /// A number (coordinates).
    Num(f64),
    /// An integer (error codes).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// Named fields in order: a JSON object, child elements in XML.
    Obj(Vec<(&'static str, Node)>),
    /// A JSON array; in XML, one element named by the first part per item.
    List(&'static str, Vec<Node>),
}

impl Node {
    /// A text node.
    pub fn text(s: impl Into<String>) -> Self {
        Node::Text(s.into())
    }
}

/// The JSON spelling.
pub fn to_json(node: &Node) -> Value {
    match node {
        Node::Text(s) => Value::String(s.clone()),
        Node::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Node::Int(n) => Value::from(*n),
        Node::Bool(b) => Value::Bool(*b),
        Node::Obj(fields) => {
            Value::Object(fields.iter().map(|(k, v)| ((*k).to_string(), to_json(v))).collect::<Map<_, _>>())
        }
        Node::List(_, items) => Value::Array(items.iter().map(to_json).collect()),
    }
}

/// The XML spelling: a declaration, then `root` holding the node.
pub fn to_xml(root: &str, node: &Node) -> Vec<u8> {
    let mut w = Writer::new(Cursor::new(Vec::new()));
    // Writing into memory cannot fail.
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let _ = write_element(&mut w, root, node);
    w.into_inner().into_inner()
}

fn write_element(w: &mut Writer<Cursor<Vec<u8>>>, name: &str, node: &Node) -> std::io::Result<()> {
    let element = w.create_element(name);
    match node {
        Node::Text(s) => element.write_text_content(BytesText::new(s))?,
        Node::Num(n) => element.write_text_content(BytesText::new(&n.to_string()))?,
        Node::Int(n) => element.write_text_content(BytesText::new(&n.to_string()))?,
        Node::Bool(b) => element.write_text_content(BytesText::new(if *b { "true" } else { "false" }))?,
        Node::Obj(fields) => {
            element.write_inner_content(|w| fields.iter().try_for_each(|(k, v)| write_element(w, k, v)))?
        }
        Node::List(item, items) => {
            element.write_inner_content(|w| items.iter().try_for_each(|v| write_element(w, item, v)))?
        }
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        Node::List(
            "request",
            vec![Node::Obj(vec![
                ("service_request_id", Node::text("2026-000001")),
                ("address", Node::text("ул. <Горького> & \"Ко\", 5")),
                ("lat", Node::Num(48.3)),
                ("metadata", Node::Bool(false)),
                ("attributes", Node::List("attribute", vec![])),
            ])],
        )
    }

    #[test]
    fn json_keeps_the_fields_and_their_types() {
        let v = to_json(&sample());
        assert_eq!(v[0]["service_request_id"], "2026-000001");
        assert_eq!(v[0]["lat"], 48.3);
        assert_eq!(v[0]["metadata"], false);
        assert_eq!(v[0]["attributes"], serde_json::json!([]));
    }

    #[test]
    fn xml_escapes_text_and_names_each_item() {
        let xml = String::from_utf8(to_xml("service_requests", &sample())).unwrap();
        assert!(
            xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><service_requests><request>"#),
            "{xml}"
        );
        assert!(xml.contains("<address>ул. &lt;Горького&gt; &amp; &quot;Ко&quot;, 5</address>"), "{xml}");
        assert!(xml.contains("<lat>48.3</lat><metadata>false</metadata><attributes></attributes>"), "{xml}");
        assert!(xml.ends_with("</request></service_requests>"), "{xml}");
    }
}
