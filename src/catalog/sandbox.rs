//! `nexis dataset query` runs SQL over the catalog only: one read-only `SELECT` (or
//! `WITH … SELECT`), with no table function. Polars' SQL reads any local file named in
//! `read_csv(…)`, `read_parquet(…)`, `read_ipc(…)` or `read_json(…)` and `CREATE TABLE`
//! registers new tables, so a query is parsed (with the dialect and options polars uses)
//! and refused, with a clear error, before polars sees it.

use std::ops::ControlFlow;

use sqlparser::ast::{Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use super::CatalogError;

/// Finds the first relation that is not a plain table name.
struct TableFunctions(Option<String>);

impl Visitor for TableFunctions {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let found = match factor {
            TableFactor::Table { name, args: Some(_), .. } => Some(name.to_string()),
            TableFactor::Table { .. } | TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => None,
            TableFactor::TableFunction { expr, .. } => Some(expr.to_string()),
            TableFactor::Function { name, .. } => Some(name.to_string()),
            other => Some(other.to_string()),
        };
        match found {
            Some(f) => {
                self.0 = Some(f);
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    }
}

/// Refuses `query` unless it is one `SELECT` over named tables (no table functions, no
/// statements that create, drop or change tables).
pub(crate) fn check_query(query: &str) -> Result<(), CatalogError> {
    let refuse = |why: String| Err(CatalogError::Query(why));
    let parser =
        Parser::new(&GenericDialect).with_options(ParserOptions { trailing_commas: true, ..Default::default() });
    let statements = parser
        .try_with_sql(query)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| CatalogError::Query(format!("not valid SQL: {e}")))?;
    let [statement] = statements.as_slice() else {
        return refuse(format!("give one SELECT statement (got {})", statements.len()));
    };
    if !matches!(statement, Statement::Query(_)) {
        return refuse("only SELECT queries run over the catalog (no CREATE, DROP, DELETE, …)".into());
    }
    let mut finder = TableFunctions(None);
    let _ = statement.visit(&mut finder);
    match finder.0 {
        Some(f) => refuse(format!(
            "`{f}` is refused: queries read the catalog table only (table functions such as read_csv or \
             read_parquet, which read local files, are not allowed)"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_reading_and_writing_sql_is_refused() {
        for ok in [
            "SELECT * FROM catalog",
            "SELECT miner_hotkey, count(*) AS n FROM catalog GROUP BY miner_hotkey",
            "WITH c AS (SELECT * FROM catalog) SELECT * FROM c JOIN catalog USING (clip_id)",
            "SELECT * FROM (SELECT clip_id FROM catalog) AS t",
        ] {
            check_query(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "SELECT * FROM read_csv('/etc/passwd')",
            "SELECT * FROM catalog, read_parquet('/tmp/x.parquet')",
            "SELECT * FROM (SELECT * FROM read_json('/tmp/x.json'))",
            "WITH x AS (SELECT * FROM read_ipc('/tmp/x')) SELECT * FROM x",
            "CREATE TABLE t AS SELECT * FROM catalog",
            "DROP TABLE catalog",
            "SELECT 1; SELECT 2",
            "SELEC nonsense",
        ] {
            let e = check_query(bad).expect_err(bad).to_string();
            assert!(e.starts_with("catalog query: "), "{bad}: {e}");
        }
        let e = check_query("SELECT * FROM read_csv('/etc/passwd')").expect_err("refused").to_string();
        assert!(e.contains("read_csv") && e.contains("catalog table only"), "{e}");
    }
}
