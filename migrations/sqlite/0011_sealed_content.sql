-- Message content and contacts encrypted per tenant (issue 12): sealed
-- under the tenant's data key (`crate::crypto::content`), base64 in TEXT
-- columns; equality lookups go through keyed blind indexes (hex).
--
-- messages.text, messages.attachments and messages.payload keep their
-- names and now hold sealed values ('' for an empty or erased payload or
-- attachment list, NULL text as before).
--
-- Rows written before this migration are not re-encrypted by it: SQL has
-- no key. (There are no deployments of earlier versions.)

ALTER TABLE contacts RENAME COLUMN display_name TO name_sealed;
ALTER TABLE contacts RENAME COLUMN phone TO phone_index;
ALTER TABLE contacts ADD COLUMN phone_sealed TEXT;
ALTER TABLE contacts ADD COLUMN name_index TEXT;
CREATE INDEX contacts_tenant_name ON contacts (tenant_id, name_index);

-- UNIQUE (channel_id, address) becomes uniqueness of the address's index.
ALTER TABLE contact_identities RENAME COLUMN address TO address_index;
ALTER TABLE contact_identities RENAME COLUMN user_id TO user_id_sealed;
ALTER TABLE contact_identities ADD COLUMN address_sealed TEXT;
CREATE INDEX contact_identities_tenant_address ON contact_identities (tenant_id, address_index);
