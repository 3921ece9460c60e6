//! The SQLite and PostgreSQL migrations must describe one schema: the store runs the same SQL
//! on both. After migrating each, this compares tables, columns (type family, nullability),
//! primary keys, unique constraints, indexes and foreign keys (with their `ON DELETE`).
//! CHECK constraints and partial-index predicates are not compared.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    /// Column → (type family, NOT NULL).
    columns: BTreeMap<String, (String, bool)>,
    primary_key: Vec<String>,
    uniques: BTreeSet<Vec<String>>,
    /// (name, columns, unique) of indexes created with CREATE INDEX.
    indexes: BTreeSet<(String, Vec<String>, bool)>,
    /// (columns, referenced table, referenced columns, on delete).
    foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>, String)>,
}

type Schema = BTreeMap<String, Table>;

fn family(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "text" | "character varying" => "text",
        "integer" | "bigint" | "smallint" => "integer",
        "blob" | "bytea" => "blob",
        "boolean" => "boolean",
        other => return format!("other:{other}"),
    }
    .to_owned()
}

fn on_delete(rule: &str) -> String {
    match rule {
        "a" | "NO ACTION" => "no action",
        "r" | "RESTRICT" => "restrict",
        "c" | "CASCADE" => "cascade",
        "n" | "SET NULL" => "set null",
        "d" | "SET DEFAULT" => "set default",
        other => other,
    }
    .to_owned()
}

async fn sqlite_schema(file: &std::path::Path) -> Schema {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for name in names {
        let mut table = Table::default();
        let mut pk: Vec<(i64, String)> = vec![];
        for row in sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)")
            .bind(&name)
            .fetch_all(&pool)
            .await
            .unwrap()
        {
            let column: String = row.get("name");
            let in_pk: i64 = row.get("pk");
            let not_null: bool = row.get::<i64, _>("notnull") == 1 || in_pk > 0;
            if in_pk > 0 {
                pk.push((in_pk, column.clone()));
            }
            table
                .columns
                .insert(column, (family(row.get("type")), not_null));
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
        for index in sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list(?)")
            .bind(&name)
            .fetch_all(&pool)
            .await
            .unwrap()
        {
            let index_name: String = index.get("name");
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&index_name)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            let unique = index.get::<i64, _>("unique") == 1;
            match index.get::<String, _>("origin").as_str() {
                "c" => {
                    table.indexes.insert((index_name, columns, unique));
                }
                "u" => {
                    table.uniques.insert(columns);
                }
                _ => {}
            }
        }
        let mut fks: BTreeMap<i64, (Vec<String>, String, Vec<String>, String)> = BTreeMap::new();
        for fk in sqlx::query(
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap()
        {
            let entry = fks.entry(fk.get("id")).or_insert_with(|| {
                (
                    vec![],
                    fk.get("table"),
                    vec![],
                    on_delete(fk.get("on_delete")),
                )
            });
            entry.0.push(fk.get("from"));
            entry.2.push(fk.get("to"));
        }
        table.foreign_keys = fks.into_values().collect();
        schema.insert(name, table);
    }
    pool.close().await;
    schema
}

async fn postgres_schema(url: &str, schema_name: &str) -> Schema {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
         AND table_type = 'BASE TABLE' AND table_name != '_sqlx_migrations'",
    )
    .bind(schema_name)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for name in names {
        let mut table = Table::default();
        for row in sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS type, is_nullable::text AS nullable \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
        )
        .bind(schema_name)
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap()
        {
            let nullable: String = row.get("nullable");
            table.columns.insert(
                row.get("name"),
                (family(row.get("type")), nullable == "NO"),
            );
        }
        for index in sqlx::query(
            "SELECT i.relname::text AS name, ix.indisunique AS is_unique, ix.indisprimary AS is_primary, \
               EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype = 'u') AS is_constraint, \
               (SELECT array_agg(a.attname::text ORDER BY k.ord) \
                  FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) \
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum) AS columns \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = $1 AND t.relname = $2",
        )
        .bind(schema_name)
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap()
        {
            let columns: Vec<String> = index.get("columns");
            if index.get("is_primary") {
                table.primary_key = columns;
            } else if index.get("is_constraint") {
                table.uniques.insert(columns);
            } else {
                table
                    .indexes
                    .insert((index.get("name"), columns, index.get("is_unique")));
            }
        }
        for fk in sqlx::query(
            "SELECT \
               (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord) \
                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns, \
               ft.relname::text AS ref_table, \
               (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord) \
                  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS ref_columns, \
               con.confdeltype::text AS on_delete \
             FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_class ft ON ft.oid = con.confrelid \
             WHERE con.contype = 'f' AND n.nspname = $1 AND t.relname = $2",
        )
        .bind(schema_name)
        .bind(&name)
        .fetch_all(&pool)
        .await
        .unwrap()
        {
            table.foreign_keys.insert((
                fk.get("columns"),
                fk.get("ref_table"),
                fk.get("ref_columns"),
                on_delete(fk.get("on_delete")),
            ));
        }
        schema.insert(name, table);
    }
    pool.close().await;
    schema
}

#[tokio::test]
async fn sqlite_and_postgres_migrate_to_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let _sqlite = common::sqlite_store(dir.path()).await;
    let file = dir.path().join("k.db");
    let schema_name = common::fresh_pg_schema().await;
    let _postgres = common::postgres_store(&schema_name).await;
    let lite = sqlite_schema(&file).await;
    let pg = postgres_schema(&common::pg_url(), &schema_name).await;
    let admin = sqlx::PgPool::connect(&common::pg_url()).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema_name} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    assert!(
        lite.len() >= 9,
        "the comparison saw the tables: {:?}",
        lite.keys()
    );
    assert_eq!(
        lite.keys().collect::<Vec<_>>(),
        pg.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    // The introspection sees what matters, so equality below means something.
    let audit = &lite["audit_entries"];
    assert!(audit.indexes.contains(&(
        "audit_entries_subject".to_owned(),
        vec!["subject_id".to_owned(), "id".to_owned()],
        false
    )));
    assert!(
        lite["web_services"].foreign_keys.contains(&(
            vec!["credential_id".to_owned()],
            "credentials".to_owned(),
            vec!["id".to_owned()],
            "restrict".to_owned()
        )),
        "{:?}",
        lite["web_services"].foreign_keys
    );
    assert!(lite["users"]
        .uniques
        .contains(&vec!["org_id".to_owned(), "name".to_owned()]));
    assert_eq!(lite["orgs"].primary_key, vec!["id".to_owned()]);
    assert_eq!(
        lite["orgs"].columns["created_at"],
        ("integer".to_owned(), true)
    );
    for (name, table) in &lite {
        assert_eq!(
            table, &pg[name],
            "table {name}: SQLite (left) vs PostgreSQL (right)"
        );
    }
}
