//! `cosell_match`: ranks a team's partners for a product by how much of what the product
//! needs (industries, regions, solution areas) each partner covers. Deterministic, with an
//! explanation a person can check.

use serde::Serialize;

use crate::domain::resources::{PartnerDraft, PartnerTier};

/// What the product needs from a partner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Industries the product targets.
    pub industries: Vec<String>,
    /// Regions it sells in.
    pub regions: Vec<String>,
    /// Solution areas it belongs to (its categories and use cases).
    pub solution_areas: Vec<String>,
}

/// One ranked partner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartnerMatch {
    /// The partner's id.
    pub partner_id: String,
    /// The partner's name.
    pub name: String,
    /// 0–100: coverage of each need, weighted 40 industries / 30 regions / 30 solution areas
    /// over the dimensions the product names.
    pub score: i64,
    /// Needs the partner covers.
    pub matched: Vec<String>,
    /// Why, in words.
    pub explanation: String,
}

const WEIGHTS: [i64; 3] = [40, 30, 30];

fn overlap(needed: &[String], offered: &[String]) -> Vec<String> {
    needed
        .iter()
        .filter(|n| {
            offered
                .iter()
                .any(|o| o.trim().eq_ignore_ascii_case(n.trim()))
        })
        .cloned()
        .collect()
}

fn tier_rank(tier: Option<PartnerTier>) -> u8 {
    match tier {
        Some(PartnerTier::Premier) => 4,
        Some(PartnerTier::Advanced) => 3,
        Some(PartnerTier::Select) => 2,
        Some(PartnerTier::Registered) => 1,
        None => 0,
    }
}

/// Ranks `partners` (id, draft) for `needs`: best score first, then higher tier, then name.
pub fn rank(needs: &Needs, partners: &[(String, PartnerDraft)], limit: usize) -> Vec<PartnerMatch> {
    let dimensions = [
        ("industries", &needs.industries),
        ("regions", &needs.regions),
        ("solution areas", &needs.solution_areas),
    ];
    let mut ranked: Vec<(PartnerMatch, u8)> = partners
        .iter()
        .map(|(id, partner)| {
            let offered = [
                &partner.industries,
                &partner.regions,
                &partner.solution_areas,
            ];
            let mut score = 0;
            let mut weights = 0;
            let mut matched = Vec::new();
            let mut parts = Vec::new();
            for (((label, needed), offered), weight) in dimensions.iter().zip(offered).zip(WEIGHTS)
            {
                if needed.is_empty() {
                    continue;
                }
                let hits = overlap(needed, offered);
                score += 100 * weight * hits.len() as i64 / needed.len() as i64;
                weights += weight;
                parts.push(if hits.is_empty() {
                    format!("0 of {} {label}", needed.len())
                } else {
                    format!(
                        "{} of {} {label} ({})",
                        hits.len(),
                        needed.len(),
                        hits.join(", ")
                    )
                });
                matched.extend(hits);
            }
            let explanation = if parts.is_empty() {
                "The product names no industries, regions or solution areas to match.".to_owned()
            } else {
                format!("Covers {}.", parts.join("; "))
            };
            let score = if weights == 0 { 0 } else { score / weights };
            (
                PartnerMatch {
                    partner_id: id.clone(),
                    name: partner.name.clone(),
                    score,
                    matched,
                    explanation,
                },
                tier_rank(partner.tier),
            )
        })
        .collect();
    ranked.sort_by(|(a, ta), (b, tb)| {
        b.score
            .cmp(&a.score)
            .then(tb.cmp(ta))
            .then(a.name.cmp(&b.name))
    });
    ranked.into_iter().take(limit).map(|(m, _)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner(
        name: &str,
        industries: &[&str],
        regions: &[&str],
        areas: &[&str],
        tier: Option<PartnerTier>,
    ) -> (String, PartnerDraft) {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        let draft = PartnerDraft {
            name: name.into(),
            industries: own(industries),
            regions: own(regions),
            solution_areas: own(areas),
            tier,
            contact: None,
        };
        (format!("ptn_{name}"), draft)
    }

    fn needs() -> Needs {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Needs {
            industries: own(&["Retail", "Finance"]),
            regions: own(&["EMEA"]),
            solution_areas: own(&["Data"]),
        }
    }

    #[test]
    fn partners_are_ranked_by_weighted_coverage_with_an_explanation() {
        let partners = vec![
            partner("Initech", &["Retail"], &["NA"], &["data"], None),
            partner(
                "Globex",
                &["retail", "Finance"],
                &["EMEA"],
                &["Data"],
                Some(PartnerTier::Select),
            ),
            partner("Hooli", &[], &[], &[], Some(PartnerTier::Premier)),
        ];
        let ranked = rank(&needs(), &partners, 5);
        assert_eq!(
            ranked.iter().map(|m| m.score).collect::<Vec<_>>(),
            [100, 50, 0]
        );
        assert_eq!(ranked[0].name, "Globex");
        assert_eq!(
            ranked[1].explanation,
            "Covers 1 of 2 industries (Retail); 0 of 1 regions; 1 of 1 solution areas (Data)."
        );
        assert_eq!(rank(&needs(), &partners, 1).len(), 1);
    }

    #[test]
    fn scores_are_out_of_100_over_the_dimensions_the_product_names() {
        let only_areas = Needs {
            solution_areas: vec!["Data".into(), "DevOps".into()],
            ..Default::default()
        };
        let partners = vec![
            partner("Globex", &[], &[], &["data", "devops"], None),
            partner("Initech", &["Retail"], &[], &["Data"], None),
        ];
        let scores: Vec<i64> = rank(&only_areas, &partners, 5)
            .iter()
            .map(|m| m.score)
            .collect();
        assert_eq!(scores, [100, 50]);
    }

    #[test]
    fn ties_go_to_the_higher_tier_then_the_name() {
        let partners = vec![
            partner("Beta", &["Retail"], &[], &[], Some(PartnerTier::Select)),
            partner("Alpha", &["Retail"], &[], &[], Some(PartnerTier::Select)),
            partner("Zeta", &["Retail"], &[], &[], Some(PartnerTier::Premier)),
        ];
        let names: Vec<String> = rank(&needs(), &partners, 3)
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["Zeta", "Alpha", "Beta"]);
    }
}
