//! The first-party WhatsApp Cloud adapter, run as a real component against
//! the Meta payloads in `../shared/fixtures/meta_whatsapp/`.

use switchboard_artifacts::first_party::WHATSAPP_CLOUD;

use crate::common::runtime;

#[test]
fn declares_itself() {
    let plugin = runtime().load(WHATSAPP_CLOUD).unwrap();
    let mut inst = runtime().instantiate(&plugin, &switchboard::runtime::CallContext::for_tenant("t", "whatsapp-cloud")).unwrap();
    let info = inst.info().unwrap();
    assert_eq!(info.name, "whatsapp-cloud");
    assert_eq!(info.max_text_length, 4096);
    assert_eq!(info.outbound_hosts, vec!["graph.facebook.com".to_string()]);
}
