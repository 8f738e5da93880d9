-- One customer across channels (issue 12). A tenant setting, off by
-- default: a first-seen channel address whose phone number (E.164) is
-- already a contact's joins that contact instead of creating another
-- (`PATCH /v1/tenant`).
ALTER TABLE tenants ADD COLUMN link_identities_by_phone INTEGER NOT NULL DEFAULT 0;

-- Finding that contact, and `GET /v1/contacts?q=` by phone.
CREATE INDEX contacts_tenant_phone ON contacts (tenant_id, phone);
