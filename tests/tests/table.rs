//! The table the tests and `make dev` create is the table template.yaml deploys.

use switchboard_tests::TestApp;
use xtask::table;

#[tokio::test]
async fn the_local_table_equals_the_template() {
    let app = TestApp::new().await;
    let expected = table::spec_from_template(&table::template_path()).unwrap();
    let live = table::describe(&app.client, &app.table).await.unwrap();
    assert_eq!(live, expected);
    // Creating it again is a no-op, as `make dev` relies on.
    assert!(!table::ensure_table(&app.client, &app.table, &expected).await.unwrap());
}
