//! Routing: which organization executes a category's requests in a district.
//! The most specific rule wins: category + district before category alone.

use crate::model::{OrgId, RoutingRule};

/// Picks the organization for `category` at an address in `district`.
pub fn route<'a>(
    rules: impl IntoIterator<Item = &'a RoutingRule>,
    category: &str,
    district: &str,
) -> Option<OrgId> {
    let mut citywide = None;
    for rule in rules {
        if rule.category.as_str() != category {
            continue;
        }
        match &rule.district {
            Some(d) if d == district => return Some(rule.organization.clone()),
            Some(_) => {}
            None => citywide = Some(rule.organization.clone()),
        }
    }
    citywide
}

/// Fills an operator script's placeholders: `{deadline}`, `{organization}`,
/// `{address}`, `{category}`. Unknown placeholders stay as they are.
pub fn fill_script(
    template: &str,
    deadline: &str,
    organization: &str,
    address: &str,
    category: &str,
) -> String {
    template
        .replace("{deadline}", deadline)
        .replace("{organization}", organization)
        .replace("{address}", address)
        .replace("{category}", category)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Code;

    fn rule(cat: &str, district: Option<&str>, org: &str) -> RoutingRule {
        RoutingRule {
            category: Code::parse(cat).unwrap(),
            district: district.map(str::to_string),
            organization: Code::parse(org).unwrap(),
        }
    }

    #[test]
    fn a_district_rule_beats_the_citywide_one_in_either_order() {
        let rules = [rule("tree", None, "roads"), rule("tree", Some("North"), "parks")];
        assert_eq!(route(&rules, "tree", "North").unwrap().as_str(), "parks");
        assert_eq!(route(&rules, "tree", "South").unwrap().as_str(), "roads");
        let reversed = [rules[1].clone(), rules[0].clone()];
        assert_eq!(route(&reversed, "tree", "North").unwrap().as_str(), "parks");
    }

    #[test]
    fn no_rule_means_the_unrouted_queue() {
        let rules = [rule("roof", Some("North"), "zhek-1")];
        assert_eq!(route(&rules, "roof", "South"), None);
        assert_eq!(route(&rules, "other", "North"), None);
    }
}
