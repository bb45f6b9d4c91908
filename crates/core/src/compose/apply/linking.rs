//! What a container is told about the other services' containers: the
//! `links:` names (Docker's endpoint links, which resolve on a user network
//! for the linking container only) and the `volumes_from:` sources.

use crate::compose::model::{Project, Service};
use crate::compose::plan::container_name;

/// `<container>:<alias>` for every replica of every linked service, as
/// compose writes them into HostConfig.Links and each network endpoint's
/// Links. On a user-defined network only the endpoint's list makes the alias
/// resolve (checked on Docker 20.10); HostConfig's serves the legacy bridge.
pub fn links(p: &Project, svc: &Service) -> Vec<String> {
    svc.links
        .iter()
        .flat_map(|l| {
            let replicas = p.services.get(&l.service).map_or(0, Service::replicas);
            (1..=replicas)
                .map(move |n| format!("{}:{}", container_name(&p.name, &l.service, n), l.alias))
        })
        .collect()
}

/// HostConfig.VolumesFrom: the first replica of each service, `:ro` kept.
pub fn volumes_from(p: &Project, svc: &Service) -> Vec<String> {
    svc.volumes_from
        .iter()
        .map(|v| {
            let name = container_name(&p.name, &v.service, 1);
            if v.read_only {
                format!("{name}:ro")
            } else {
                name
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;
    use crate::compose::model::{Link, VolumesFrom};

    #[test]
    fn every_replica_of_a_linked_service_answers_to_the_alias() {
        let web = Service {
            links: vec![
                Link {
                    service: "db".into(),
                    alias: "database".into(),
                },
                Link {
                    service: "cache".into(),
                    alias: "cache".into(),
                },
            ],
            volumes_from: vec![
                VolumesFrom {
                    service: "data".into(),
                    read_only: true,
                },
                VolumesFrom {
                    service: "db".into(),
                    read_only: false,
                },
            ],
            ..Service::default()
        };
        let mut p = Project::empty("shop-x", "/w");
        p.services = IndexMap::from([
            ("web".to_string(), web.clone()),
            (
                "db".to_string(),
                Service {
                    scale: Some(2),
                    ..Service::default()
                },
            ),
            ("cache".to_string(), Service::default()),
            ("data".to_string(), Service::default()),
        ]);
        assert_eq!(
            links(&p, &web),
            vec![
                "shop-x-db-1:database".to_string(),
                "shop-x-db-2:database".into(),
                "shop-x-cache-1:cache".into()
            ]
        );
        assert_eq!(
            volumes_from(&p, &web),
            vec!["shop-x-data-1:ro".to_string(), "shop-x-db-1".into()]
        );
    }
}
