use super::*;

/// A migrated SQLite database in a temporary directory, with two tenants.
async fn db() -> (tempfile::TempDir, Db, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&crate::storage::default_url(dir.path()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let a = db.create_tenant("a", "A").await.unwrap().id;
    let b = db.create_tenant("b", "B").await.unwrap().id;
    (dir, db, a, b)
}

const CH: Purpose<'static> = Purpose::ChannelConfig { channel_id: "ch_1" };

#[tokio::test]
async fn round_trip_with_one_data_key_per_tenant() {
    let (_dir, db, a, b) = db().await;
    let ring = Keyring::new(db.clone(), MasterKey::from_bytes([1; 32]));
    let sealed = ring.seal(&a, CH, b"app_secret=hunter2").await.unwrap();
    assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
    assert_eq!(
        ring.open(&a, CH, &sealed).await.unwrap(),
        b"app_secret=hunter2"
    );
    // A fresh keyring (no cache) reads the stored, wrapped key.
    let again = Keyring::new(db.clone(), MasterKey::from_bytes([1; 32]));
    assert_eq!(
        again.open(&a, CH, &sealed).await.unwrap(),
        b"app_secret=hunter2"
    );
    // The second seal reuses the key; tenant b gets a different one.
    let first = db.tenant_key(&a).await.unwrap().unwrap().wrapped;
    ring.seal(&a, CH, b"x").await.unwrap();
    assert_eq!(db.tenant_key(&a).await.unwrap().unwrap().wrapped, first);
    let sealed_b = ring.seal(&b, CH, b"x").await.unwrap();
    assert_ne!(sealed_b[1..5], sealed[1..5], "key ids differ per tenant");
    assert!(!format!("{ring:?}").contains("[1"));
}

#[tokio::test]
async fn a_ciphertext_opens_only_for_its_tenant_purpose_and_record() {
    let (_dir, db, a, b) = db().await;
    let ring = Keyring::new(db, MasterKey::from_bytes([1; 32]));
    let sealed = ring.seal(&a, CH, b"s3cret").await.unwrap();
    ring.seal(&b, CH, b"b's own").await.unwrap();
    for (tenant, purpose) in [
        (&b, CH),
        (&a, Purpose::ChannelConfig { channel_id: "ch_2" }),
        (&a, Purpose::PersonaResponder { persona_id: "ch_1" }),
    ] {
        let e = ring.open(tenant, purpose, &sealed).await.unwrap_err();
        assert!(matches!(e, SecretError::Undecryptable), "{purpose:?}");
        assert_eq!(
            e.to_string(),
            "cannot decrypt (key destroyed or wrong master key)"
        );
    }
}

#[tokio::test]
async fn the_wrong_master_key_opens_nothing_and_is_refused_at_start() {
    let (_dir, db, a, _) = db().await;
    let right = Keyring::new(db.clone(), MasterKey::from_bytes([1; 32]));
    let sealed = right.seal(&a, CH, b"s3cret").await.unwrap();
    right.check_master_key().await.unwrap();
    let wrong = Keyring::new(db, MasterKey::from_bytes([2; 32]));
    assert!(matches!(
        wrong.open(&a, CH, &sealed).await,
        Err(SecretError::Undecryptable)
    ));
    let e = wrong.check_master_key().await.unwrap_err().to_string();
    assert!(
        e.contains("1 tenant data key") && e.contains("keys rotate"),
        "{e}"
    );
}

#[tokio::test]
async fn rotation_rewraps_data_keys_and_leaves_ciphertexts_alone() {
    let (_dir, db, a, b) = db().await;
    let (old, new) = (
        MasterKey::from_bytes([1; 32]),
        MasterKey::from_bytes([3; 32]),
    );
    let ring = Keyring::new(db.clone(), old.clone());
    let sa = ring.seal(&a, CH, b"alpha").await.unwrap();
    let sb = ring.seal(&b, CH, b"beta").await.unwrap();
    let before = db.tenant_key(&a).await.unwrap().unwrap();
    assert_eq!(rotate(&db, &old, &new).await.unwrap(), 2);
    let after = db.tenant_key(&a).await.unwrap().unwrap();
    assert_ne!(after.wrapped, before.wrapped);
    assert_eq!(after.master_key_id, new.id());
    let rotated = Keyring::new(db.clone(), new.clone());
    rotated.check_master_key().await.unwrap();
    assert_eq!(rotated.open(&a, CH, &sa).await.unwrap(), b"alpha");
    assert_eq!(rotated.open(&b, CH, &sb).await.unwrap(), b"beta");
    assert!(
        Keyring::new(db.clone(), old.clone())
            .open(&a, CH, &sa)
            .await
            .is_err()
    );
    // Re-running is a no-op; rotating with a key that wrapped nothing fails
    // and changes nothing.
    assert_eq!(rotate(&db, &old, &new).await.unwrap(), 0);
    let stranger = MasterKey::from_bytes([9; 32]);
    assert_eq!(rotate(&db, &new, &new).await.unwrap(), 0);
    let e = rotate(&db, &stranger, &old).await.unwrap_err();
    assert!(!format!("{e:?}").contains("[9"), "{e:?}");
    assert_eq!(rotated.open(&a, CH, &sa).await.unwrap(), b"alpha");
}

#[tokio::test]
async fn deleting_a_tenant_shreds_its_secrets_only() {
    let (_dir, db, a, b) = db().await;
    let ring = Keyring::new(db.clone(), MasterKey::from_bytes([1; 32]));
    let sa = ring.seal(&a, CH, b"alpha").await.unwrap();
    let sb = ring.seal(&b, CH, b"beta").await.unwrap();
    db.delete_tenant(&a, "admin").await.unwrap();
    ring.forget(&a);
    assert!(matches!(
        ring.open(&a, CH, &sa).await,
        Err(SecretError::Undecryptable)
    ));
    assert!(matches!(
        ring.seal(&a, CH, b"new").await,
        Err(SecretError::Destroyed)
    ));
    let stored = db.tenant_key(&a).await.unwrap().unwrap();
    assert!(stored.destroyed && stored.wrapped.is_empty());
    assert_eq!(ring.open(&b, CH, &sb).await.unwrap(), b"beta");
    // Destroyed keys are not rotated, nor do they block a start.
    ring.check_master_key().await.unwrap();
    assert!(matches!(
        db.delete_tenant(&a, "admin").await,
        Err(StorageError::NotFound(_))
    ));
}
