//! Save modes apply at a start from no checkpoint, never at a recovery from one.

use weir_core::config::{DataSaveMode, SchemaSaveMode};

use super::*;

#[tokio::test]
async fn save_modes_apply_at_a_start_from_no_checkpoint_only() {
    let earlier = |fixture: &Fixture| {
        std::fs::create_dir_all(fixture.out().join("day=1")).unwrap();
        std::fs::write(fixture.out().join("day=1/old.txt"), "old\n").unwrap();
        std::fs::write(fixture.out().join("old.txt"), "old\n").unwrap();
    };
    for (schema, data) in [
        (
            SchemaSaveMode::CreateSchemaWhenNotExist,
            DataSaveMode::DropData,
        ),
        (SchemaSaveMode::RecreateSchema, DataSaveMode::AppendData),
    ] {
        let mut fixture = Fixture::new();
        fixture.config.schema_save_mode = schema;
        fixture.config.data_save_mode = data;
        earlier(&fixture);
        let mut sink = fixture.sink(1);
        sink.recover(Restored::default()).await.unwrap();
        assert!(files(&fixture.out()).is_empty(), "{schema:?} {data:?}");
        assert!(fixture.out().is_dir());
        write(&mut sink, 0..1).await;
        let listed = checkpoint(&mut sink, 1).await;
        // A recovery from that checkpoint keeps what the job committed.
        fixture.sink(2).recover(listed.into()).await.unwrap();
        assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt"]);
    }
    // The defaults keep what is there.
    let fixture = Fixture::new();
    earlier(&fixture);
    fixture.sink(1).recover(Restored::default()).await.unwrap();
    assert_eq!(files(&fixture.out()), ["day=1/old.txt", "old.txt"]);

    // The checks fail a fresh start only.
    let mut fixture = Fixture::new();
    fixture.config.data_save_mode = DataSaveMode::ErrorWhenDataExists;
    fixture.sink(1).recover(Restored::default()).await.unwrap();
    earlier(&fixture);
    let error = fixture
        .sink(2)
        .recover(Restored::default())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("is ERROR_WHEN_DATA_EXISTS, and")
            && error.to_string().contains("holds 2 entries"),
        "{error}"
    );
    fixture.sink(3).recover(Vec::new().into()).await.unwrap();
    let mut fixture = Fixture::new();
    fixture.config.schema_save_mode = SchemaSaveMode::ErrorWhenSchemaNotExist;
    let error = fixture
        .sink(1)
        .recover(Restored::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    earlier(&fixture);
    fixture.sink(2).recover(Restored::default()).await.unwrap();
}
