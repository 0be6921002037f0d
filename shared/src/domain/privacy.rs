//! Privacy settings and their cascade: user → team → company → product. Each level may leave
//! a setting unset (`null`) and inherit it from the level before.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The privacy settings one level sets; `None` inherits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Keep this data out of any model training.
    #[serde(default)]
    pub training_data_opt_out: Option<bool>,
    /// Allow product analytics on this data.
    #[serde(default)]
    pub analytics_opt_in: Option<bool>,
    /// Keep this data in its own knowledge-base partition.
    #[serde(default)]
    pub data_isolation_enabled: Option<bool>,
    /// Let knowledge bases of the team's other brands use this data.
    #[serde(default)]
    pub kb_cross_brand_sharing: Option<bool>,
}

/// The settings in force after the cascade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePrivacy {
    /// See [`PrivacySettings::training_data_opt_out`].
    pub training_data_opt_out: bool,
    /// See [`PrivacySettings::analytics_opt_in`].
    pub analytics_opt_in: bool,
    /// See [`PrivacySettings::data_isolation_enabled`].
    pub data_isolation_enabled: bool,
    /// See [`PrivacySettings::kb_cross_brand_sharing`].
    pub kb_cross_brand_sharing: bool,
}

impl EffectivePrivacy {
    /// What applies where no level says anything: the most private choice.
    pub const DEFAULT: EffectivePrivacy = EffectivePrivacy {
        training_data_opt_out: true,
        analytics_opt_in: false,
        data_isolation_enabled: true,
        kb_cross_brand_sharing: false,
    };

    /// Applies the levels from the most general (user) to the most specific (product); the
    /// most specific level that sets a value wins.
    pub fn cascade(levels: &[PrivacySettings]) -> EffectivePrivacy {
        levels
            .iter()
            .fold(Self::DEFAULT, |acc, level| EffectivePrivacy {
                training_data_opt_out: level
                    .training_data_opt_out
                    .unwrap_or(acc.training_data_opt_out),
                analytics_opt_in: level.analytics_opt_in.unwrap_or(acc.analytics_opt_in),
                data_isolation_enabled: level
                    .data_isolation_enabled
                    .unwrap_or(acc.data_isolation_enabled),
                kb_cross_brand_sharing: level
                    .kb_cross_brand_sharing
                    .unwrap_or(acc.kb_cross_brand_sharing),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_level_that_sets_a_value_wins() {
        let user = PrivacySettings {
            analytics_opt_in: Some(true),
            ..Default::default()
        };
        let team = PrivacySettings {
            training_data_opt_out: Some(false),
            ..Default::default()
        };
        let company = PrivacySettings {
            analytics_opt_in: Some(false),
            ..Default::default()
        };
        let product = PrivacySettings {
            kb_cross_brand_sharing: Some(true),
            ..Default::default()
        };
        let effective = EffectivePrivacy::cascade(&[user, team, company, product]);
        assert_eq!(
            effective,
            EffectivePrivacy {
                training_data_opt_out: false,
                analytics_opt_in: false,
                data_isolation_enabled: true,
                kb_cross_brand_sharing: true,
            }
        );
    }

    #[test]
    fn unset_everywhere_means_the_private_default() {
        let none = PrivacySettings::default();
        assert_eq!(
            EffectivePrivacy::cascade(&[none, none]),
            EffectivePrivacy::DEFAULT
        );
    }
}
