//! Limits async-graphql 7 has no setting for: operations per document and
//! aliases per document (one query cannot fan out into thousands of lookups).

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Variables};

/// Refuses documents with too many operations or aliases.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    /// Operations per document.
    pub max_operations: usize,
    /// Aliases per document, fragments included.
    pub max_aliases: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let operations = doc.operations.iter().count();
        if operations > self.max_operations {
            return Err(refuse(format!(
                "a document may hold {} operation(s); this one has {operations}",
                self.max_operations
            )));
        }
        let mut aliases = 0usize;
        for (_, op) in doc.operations.iter() {
            count_aliases(&op.node.selection_set.node, &mut aliases);
        }
        for fragment in doc.fragments.values() {
            count_aliases(&fragment.node.selection_set.node, &mut aliases);
        }
        if aliases > self.max_aliases {
            return Err(refuse(format!(
                "a document may use {} aliases; this one uses {aliases}",
                self.max_aliases
            )));
        }
        Ok(doc)
    }
}

fn count_aliases(set: &SelectionSet, n: &mut usize) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(f) => {
                if f.node.alias.is_some() {
                    *n += 1;
                }
                count_aliases(&f.node.selection_set.node, n);
            }
            Selection::InlineFragment(f) => count_aliases(&f.node.selection_set.node, n),
            // Fragment bodies are counted once, with the fragments.
            Selection::FragmentSpread(_) => {}
        }
    }
}

fn refuse(message: String) -> ServerError {
    let mut e = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "VALIDATION");
    e.extensions = Some(extensions);
    e
}
