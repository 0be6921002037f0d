//! Credits and the ledger, as the admin command changes them.

use vellocity::app::credits::{self, LedgerKind};
use vellocity::app::records::PageRequest;
use vellocity::domain::ids::TeamId;
use vellocity::error::Error;

use crate::helpers::TestApp;

fn everything() -> PageRequest {
    PageRequest {
        limit: 100,
        cursor: None,
    }
}

#[tokio::test]
async fn a_new_team_starts_with_its_trial_credits_on_the_ledger() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let team_id = TeamId::parse(&team.id).unwrap();
    let ledger = credits::ledger(&app.stack.app, &team_id, everything())
        .await
        .unwrap();
    assert_eq!(ledger.items.len(), 1);
    assert_eq!(
        (ledger.items[0].kind, ledger.items[0].amount),
        (LedgerKind::PlanGrant, 200)
    );
}

#[tokio::test]
async fn grants_and_revocations_move_the_balance_and_are_kept_newest_first() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let team_id = TeamId::parse(&team.id).unwrap();
    let after_grant = credits::adjust(&app.stack.app, &team_id, 500, "Launch bonus")
        .await
        .unwrap();
    assert_eq!(after_grant.credits.balance, 700);
    let after_revoke = credits::adjust(&app.stack.app, &team_id, -300, "Refund of the bonus")
        .await
        .unwrap();
    assert_eq!(after_revoke.credits.balance, 400);
    assert_eq!(
        app.get(&team.key, "/v1/team").await.body["credits"]["balance"],
        400
    );
    let ledger = credits::ledger(&app.stack.app, &team_id, everything())
        .await
        .unwrap();
    let kinds: Vec<(LedgerKind, i64)> = ledger.items.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(
        kinds,
        [
            (LedgerKind::Revoke, -300),
            (LedgerKind::Grant, 500),
            (LedgerKind::PlanGrant, 200)
        ]
    );
    assert_eq!(
        ledger.items.iter().map(|e| e.amount).sum::<i64>(),
        400,
        "the ledger explains the balance"
    );
}

#[tokio::test]
async fn a_balance_never_goes_negative() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let team_id = TeamId::parse(&team.id).unwrap();
    let refused = credits::adjust(&app.stack.app, &team_id, -201, "Too much")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::InsufficientCredits(_)),
        "{refused:?}"
    );
    assert_eq!(
        credits::ledger(&app.stack.app, &team_id, everything())
            .await
            .unwrap()
            .items
            .len(),
        1,
        "no entry written"
    );
    assert_eq!(
        app.get(&team.key, "/v1/team").await.body["credits"]["balance"],
        200
    );
    assert!(matches!(
        credits::adjust(&app.stack.app, &team_id, 0, "Nothing").await,
        Err(Error::Validation(_))
    ));
    let unknown = TeamId::generate();
    assert!(matches!(
        credits::adjust(&app.stack.app, &unknown, 10, "Ghost").await,
        Err(Error::NotFound(_))
    ));
}
