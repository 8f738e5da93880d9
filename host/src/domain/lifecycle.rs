//! Where a channel and a tenant stand over their life. Each maps to its
//! column value here and nowhere else.

use serde::{Deserialize, Serialize};

/// A channel's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelStatus {
    /// Receives, processes and sends.
    Active,
    /// Turned off by its tenant (`enabled: false`): stores, processes and
    /// sends nothing until enabled again.
    Disabled,
    /// Deleted: its webhook URL is unknown, its queued sends fail; its
    /// conversations stay readable until retention removes them.
    Deleted,
}

impl ChannelStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Active => "active",
            ChannelStatus::Disabled => "disabled",
            ChannelStatus::Deleted => "deleted",
        }
    }

    /// A column value back. An unknown value reads as disabled: a row
    /// written by a newer version must not start receiving here.
    pub fn parse(s: &str) -> ChannelStatus {
        match s {
            "active" => ChannelStatus::Active,
            "deleted" => ChannelStatus::Deleted,
            _ => ChannelStatus::Disabled,
        }
    }
}

impl std::fmt::Display for ChannelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    /// Suspended by the platform admin: its API keys get 403 and its
    /// channels behave as disabled; nothing is deleted.
    Suspended,
    /// Deleted (`DELETE /v1/admin/tenants/{id}`): its data key destroyed.
    Deleted,
}

impl TenantStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Deleted => "deleted",
        }
    }

    /// A column value back. An unknown value reads as suspended (nothing
    /// runs, nothing is destroyed).
    pub fn parse(s: &str) -> TenantStatus {
        match s {
            "active" => TenantStatus::Active,
            "deleted" => TenantStatus::Deleted,
            _ => TenantStatus::Suspended,
        }
    }
}

impl std::fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
