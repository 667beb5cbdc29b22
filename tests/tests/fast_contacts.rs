//! Contacts over the in-memory fakes (the fast tier, as `fast_handlers.rs`): the address book's
//! routes, its privacy, its bad input, vCard import, and the names conversations show. Store
//! requests are counted as port calls (`MemoryStore::requests`); `contacts.rs` counts the
//! DynamoDB requests against the local server.

use serde_json::{json, Value};
use switchboard_tests::fast::FastApp;
use switchboard_tests::{Reply, Session};

const GRACE: &str = "+14155550177";
const ALAN: &str = "+442079460123";
/// A ULID that names nothing.
const NOBODY: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

async fn add(app: &FastApp, who: &Session, body: Value) -> Reply {
    app.post("/api/contacts", body, Some(&who.token)).await
}

async fn added(app: &FastApp, who: &Session, name: &str, phone: &str) -> Value {
    let reply = add(app, who, json!({"name": name, "phoneNumber": phone})).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["contact"].clone()
}

fn names(reply: &Reply) -> Vec<String> {
    let contacts = reply.body["contacts"].as_array().unwrap_or_else(|| panic!("{:?}", reply.body));
    contacts.iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

/// The port calls a request makes (authentication's user read included).
async fn counted(app: &FastApp, request: impl std::future::Future<Output = Reply>) -> (Reply, u64) {
    let before = app.store.requests();
    let reply = request.await;
    (reply, app.store.requests() - before)
}

#[tokio::test]
async fn a_user_adds_finds_edits_and_deletes_contacts_in_their_own_words() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    // WHEN Ada adds Grace as people type a phone, with a note
    let (reply, requests) = counted(
        &app,
        add(
            &app,
            &ada,
            json!({"name": "  Grace Hopper ", "phoneNumber": "(415) 555-0177", "notes": "COBOL"}),
        ),
    )
    .await;
    assert_eq!((reply.status, requests), (201, 2), "{:?}", reply.body);
    let grace = reply.body["contact"].clone();
    assert_eq!((grace["name"].clone(), grace["phoneNumber"].clone()), (json!("Grace Hopper"), json!(GRACE)));
    assert_eq!(grace["notes"], "COBOL");
    let id = grace["id"].as_str().unwrap().to_string();
    for (name, phone) in [("alan turing", ALAN), ("Ada Lovelace", "+14155550101"), ("Gregor", "+14155550102")]
    {
        added(&app, &ada, name, phone).await;
    }

    // THEN she lists them by name, and finds by a name's start in any case, page by page
    let all = app.get("/api/contacts", &ada.token).await;
    assert_eq!(names(&all), ["Ada Lovelace", "alan turing", "Grace Hopper", "Gregor"]);
    let (first, requests) = counted(&app, app.get("/api/contacts?q=GR&limit=1", &ada.token)).await;
    assert_eq!((names(&first), requests), (vec!["Grace Hopper".to_string()], 2));
    let cursor = first.body["nextCursor"].as_str().expect("a next page").to_string();
    let next = app.get(format!("/api/contacts?q=gr&limit=1&cursor={cursor}"), &ada.token).await;
    assert_eq!(names(&next), ["Gregor"]);
    assert!(names(&app.get("/api/contacts?q=zz", &ada.token).await).is_empty());

    // WHEN she renames Grace, moves her to another phone and clears the note
    let path = format!("/api/contacts/{id}");
    let (edited, requests) = counted(
        &app,
        app.patch(
            &path,
            json!({"name": "Amazing Grace", "phoneNumber": "+1 415 555 0178", "notes": null}),
            &ada.token,
        ),
    )
    .await;
    assert_eq!((edited.status, requests), (200, 3), "{:?}", edited.body);
    let contact = &edited.body["contact"];
    assert_eq!(
        (contact["name"].clone(), contact["phoneNumber"].clone()),
        (json!("Amazing Grace"), json!("+14155550178"))
    );
    assert!(contact["notes"].is_null());
    // THEN the search follows the new name; the old phone is free for a new contact
    assert_eq!(names(&app.get("/api/contacts?q=am", &ada.token).await), ["Amazing Grace"]);
    assert!(names(&app.get("/api/contacts?q=grace", &ada.token).await).is_empty());
    added(&app, &ada, "Grace's office", GRACE).await;
    let (read, requests) = counted(&app, app.get(&path, &ada.token)).await;
    assert_eq!(
        (read.status, read.body["contact"]["name"].clone(), requests),
        (200, json!("Amazing Grace"), 2)
    );

    // WHEN she deletes her THEN she is gone, and her phone free
    let (deleted, requests) = counted(&app, app.delete(&path, &ada.token)).await;
    assert_eq!((deleted.status, deleted.body["deleted"].clone(), requests), (200, json!(id), 3));
    assert_eq!(app.get(&path, &ada.token).await.status, 404);
    assert_eq!(app.delete(&path, &ada.token).await.status, 404);
    added(&app, &ada, "Grace again", "+14155550178").await;
}

#[tokio::test]
async fn one_contact_per_phone_a_second_is_409_and_a_move_onto_a_taken_phone_too() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    let grace = added(&app, &ada, "Grace", GRACE).await;
    let alan = added(&app, &ada, "Alan", ALAN).await;
    let again = add(&app, &ada, json!({"name": "Grace H.", "phoneNumber": "415-555-0177"})).await;
    assert_eq!((again.status, again.code()), (409, "contact_exists"), "{:?}", again.body);
    let path = format!("/api/contacts/{}", alan["id"].as_str().unwrap());
    let moved = app.patch(&path, json!({"phoneNumber": GRACE}), &ada.token).await;
    assert_eq!((moved.status, moved.code()), (409, "contact_exists"));
    assert_eq!(names(&app.get("/api/contacts", &ada.token).await), ["Alan", "Grace"]);
    // Unchanged fields change nothing (and write nothing).
    let path = format!("/api/contacts/{}", grace["id"].as_str().unwrap());
    let (same, requests) = counted(&app, app.patch(&path, json!({"name": "Grace"}), &ada.token)).await;
    assert_eq!(
        (same.status, same.body["contact"]["updatedAt"].clone(), requests),
        (200, grace["updatedAt"].clone(), 2)
    );
}

#[tokio::test]
async fn contacts_are_private_another_users_contact_is_not_found_and_every_route_needs_a_token() {
    let app = FastApp::new();
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let grace = added(&app, &ada, "Grace", GRACE).await;
    let path = format!("/api/contacts/{}", grace["id"].as_str().unwrap());

    // Bob cannot read, edit or delete Ada's contact: it does not exist for him.
    assert_eq!(app.get(&path, &bob.token).await.status, 404);
    assert_eq!(app.patch(&path, json!({"name": "Mine now"}), &bob.token).await.status, 404);
    assert_eq!(app.delete(&path, &bob.token).await.status, 404);
    assert!(names(&app.get("/api/contacts", &bob.token).await).is_empty());
    assert!(names(&app.get("/api/contacts?q=g", &bob.token).await).is_empty());
    // His own contact for the same phone is his alone.
    added(&app, &bob, "Admiral Hopper", GRACE).await;
    assert_eq!(app.get(&path, &ada.token).await.body["contact"]["name"], "Grace");
    assert_eq!(names(&app.get("/api/contacts", &ada.token).await), ["Grace"]);
    // A cursor of Ada's listing reads nothing of hers for Bob.
    added(&app, &ada, "Gus", "+14155550103").await;
    let page = app.get("/api/contacts?limit=1", &ada.token).await;
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let stolen = app.get(format!("/api/contacts?limit=1&cursor={cursor}"), &bob.token).await;
    assert_eq!((stolen.status, stolen.code()), (400, "invalid_request"));

    let import = json!({"vcard": "BEGIN:VCARD\nFN:X\nTEL:+14155550104\nEND:VCARD"});
    for (method, route, body) in [
        ("GET", "/api/contacts".to_string(), None),
        ("POST", "/api/contacts".to_string(), Some(json!({"name": "X", "phoneNumber": GRACE}))),
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"name": "X"}))),
        ("DELETE", path.clone(), None),
        ("POST", "/api/contacts/import".to_string(), Some(import.clone())),
    ] {
        let reply = app.send(method, &route, body, None).await;
        assert_eq!((reply.status, reply.code()), (401, "unauthorized"), "{method} {route}");
    }
    assert_eq!(names(&app.get("/api/contacts", &ada.token).await), ["Grace", "Gus"]);
}

#[tokio::test]
async fn bad_contacts_are_refused_with_a_json_error_naming_the_field() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    let long = "x".repeat(101);
    for (body, status, field) in [
        (json!({"name": "Grace", "phoneNumber": "12"}), 422, "phoneNumber"),
        (json!({"name": "Grace", "phoneNumber": "not a phone"}), 422, "phoneNumber"),
        (json!({"name": "   ", "phoneNumber": GRACE}), 422, "name"),
        (json!({"name": long, "phoneNumber": GRACE}), 422, "name"),
        (json!({"name": "Tab\tName", "phoneNumber": GRACE}), 422, "name"),
        (json!({"name": "Grace", "phoneNumber": GRACE, "notes": "n".repeat(1001)}), 422, "notes"),
        (json!({"phoneNumber": GRACE}), 400, "name"),
        (json!({"name": "Grace"}), 400, "phoneNumber"),
        (json!({"name": 7, "phoneNumber": GRACE}), 400, "name"),
    ] {
        let reply = add(&app, &ada, body.clone()).await;
        assert_eq!((reply.status, reply.body["error"]["field"].clone()), (status, json!(field)), "{body}");
    }
    let not_json = app.send_raw("POST", "/api/contacts", "name=Grace", Some(&ada.token)).await;
    assert_eq!((not_json.status, not_json.code()), (400, "invalid_request"));

    let grace = added(&app, &ada, "Grace", GRACE).await;
    let path = format!("/api/contacts/{}", grace["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"phoneNumber": "555"}), "phoneNumber"),
        (json!({"name": ""}), "name"),
        (json!({"name": long}), "name"),
    ] {
        let reply = app.patch(&path, body.clone(), &ada.token).await;
        assert_eq!((reply.status, reply.body["error"]["field"].clone()), (422, json!(field)), "{body}");
    }
    assert_eq!(app.get(&path, &ada.token).await.body["contact"]["name"], "Grace", "nothing changed");
    for unknown in [format!("/api/contacts/{NOBODY}"), "/api/contacts/not-an-id".to_string()] {
        let reply = app.patch(&unknown, json!({"name": "X"}), &ada.token).await;
        assert_eq!((reply.status, reply.code()), (404, "not_found"), "{unknown}");
    }
    let too_big = json!({"vcard": "x".repeat(70 * 1024)});
    let reply = app.post("/api/contacts/import", too_big, Some(&ada.token)).await;
    assert_eq!((reply.status, reply.code()), (413, "payload_too_large"));
}

#[tokio::test]
async fn a_vcard_import_reports_each_card_imported_duplicate_or_invalid() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    added(&app, &ada, "Grace", GRACE).await;
    let vcard = [
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alan Turing\r\nTEL;TYPE=CELL:+44 20 7946 0123\r\nEND:VCARD",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace Hopper\r\nTEL:(415) 555-0177\r\nEND:VCARD",
        "BEGIN:VCARD\r\nVERSION:4.0\r\nN:Lovelace;Ada;;;\r\nTEL;VALUE=uri;PREF=1:tel:+1-415-555-0101\r\nEND:VCARD",
        "BEGIN:VCARD\r\nFN:No Phone\r\nEMAIL:x@example.com\r\nEND:VCARD",
        "BEGIN:VCARD\r\nFN:Bad Phone\r\nTEL:12\r\nEND:VCARD",
        "BEGIN:VCARD\r\nTEL:+14155550109\r\nEND:VCARD",
        "BEGIN:VCARD\r\nFN:Alan again\r\nTEL:+442079460123\r\nEND:VCARD",
    ]
    .join("\r\n");
    let (reply, requests) =
        counted(&app, app.post("/api/contacts/import", json!({ "vcard": vcard }), Some(&ada.token))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // The caller, one batched read of the phones, one write per new contact.
    assert_eq!(requests, 1 + 1 + 2);
    let report = &reply.body;
    assert_eq!(
        (report["imported"].clone(), report["duplicates"].clone(), report["invalid"].clone()),
        (json!(2), json!(2), json!(3))
    );
    let outcomes: Vec<&str> =
        report["cards"].as_array().unwrap().iter().map(|c| c["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["imported", "duplicate", "imported", "invalid", "invalid", "invalid", "duplicate"]);
    let cards = report["cards"].as_array().unwrap();
    assert_eq!((cards[0]["card"].clone(), cards[0]["phoneNumber"].clone()), (json!(1), json!(ALAN)));
    assert!(cards[1]["contactId"].is_string(), "the duplicate names the contact that has the phone");
    assert_eq!(cards[2]["name"], "Ada Lovelace");
    for (card, reason) in [(3, "no phone"), (4, "not a phone"), (5, "no name")] {
        assert!(cards[card]["reason"].as_str().unwrap().contains(reason), "{}", cards[card]);
    }
    assert_eq!(names(&app.get("/api/contacts", &ada.token).await), ["Ada Lovelace", "Alan Turing", "Grace"]);

    // The same file again imports nothing.
    let again = app.post("/api/contacts/import", json!({ "vcard": vcard }), Some(&ada.token)).await;
    assert_eq!((again.body["imported"].clone(), again.body["duplicates"].clone()), (json!(0), json!(4)));

    for (vcard, why) in [("", "no vCard"), ("hello", "no vCard"), ("BEGIN:VCARD\nFN:A\n", "no END")] {
        let reply = app.post("/api/contacts/import", json!({ "vcard": vcard }), Some(&ada.token)).await;
        assert_eq!((reply.status, reply.body["error"]["field"].clone()), (422, json!("vcard")), "{vcard:?}");
        assert!(reply.body["error"]["message"].as_str().unwrap().contains(why), "{:?}", reply.body);
    }
    let missing = app.post("/api/contacts/import", json!({"text": "x"}), Some(&ada.token)).await;
    assert_eq!((missing.status, missing.body["error"]["field"].clone()), (400, json!("vcard")));
}

#[tokio::test]
async fn a_contacts_name_shows_for_its_phone_in_its_owners_conversations_only() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &["+14155550150".to_string(), "+14155550160".to_string()]).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    app.give_number(&ada).await;
    let sms = app.start_sms(&ada, GRACE, Some("Grace from the bus")).await;
    let sms_path = format!("/api/conversations/{}", sms["id"].as_str().unwrap());
    let club = app
        .create_group(
            &ada,
            "Book club",
            json!([{"userId": bob.user_id}, {"phoneNumber": GRACE, "displayName": "G"}]),
        )
        .await;
    let club_path = format!("/api/conversations/{}", club["id"].as_str().unwrap());
    let phone_name = |conversation: &Value| -> Value {
        let participants = conversation["participants"].as_array().unwrap();
        participants.iter().find(|p| p["phoneNumber"] == GRACE).unwrap()["displayName"].clone()
    };

    // Before any contact: the names typed when the conversations started. A conversation
    // without phones reads no contacts (the caller and the conversation: 2 requests).
    let (before, requests) = counted(&app, app.get(&sms_path, &ada.token)).await;
    assert_eq!((before.body["conversation"]["name"].clone(), requests), (json!("Grace from the bus"), 3));
    let direct =
        app.post("/api/conversations/direct", json!({"userId": bob.user_id}), Some(&ada.token)).await;
    let direct_path = format!("/api/conversations/{}", direct.body["conversation"]["id"].as_str().unwrap());
    assert_eq!(counted(&app, app.get(&direct_path, &ada.token)).await.1, 2);

    // WHEN Ada names the phone
    let grace = added(&app, &ada, "Grace Hopper", GRACE).await;
    // THEN her SMS conversation is titled by the contact, and the phone named so in both
    let sms_view = app.get(&sms_path, &ada.token).await.body["conversation"].clone();
    assert_eq!(
        (sms_view["name"].clone(), phone_name(&sms_view)),
        (json!("Grace Hopper"), json!("Grace Hopper"))
    );
    let club_view = app.get(&club_path, &ada.token).await.body["conversation"].clone();
    assert_eq!(
        (club_view["name"].clone(), phone_name(&club_view)),
        (json!("Book club"), json!("Grace Hopper"))
    );
    // Bob, in the same group, sees the name the group has, not Ada's contact.
    let bobs = app.get(&club_path, &bob.token).await.body["conversation"].clone();
    assert_eq!(phone_name(&bobs), "G");

    // The inbox gains no request: its SMS line carries the phone for the client to name.
    let (inbox, requests) = counted(&app, app.get("/api/conversations", &ada.token)).await;
    assert_eq!(requests, 2);
    let lines = inbox.body["conversations"].as_array().unwrap();
    let sms_line = lines.iter().find(|l| l["id"] == sms["id"]).unwrap();
    let club_line = lines.iter().find(|l| l["id"] == club["id"]).unwrap();
    assert_eq!(sms_line["phoneNumber"], GRACE);
    assert!(club_line.get("phoneNumber").is_none());

    // A rename shows at once; a deleted contact gives the conversations their own names back.
    let contact_path = format!("/api/contacts/{}", grace["id"].as_str().unwrap());
    app.patch(&contact_path, json!({"name": "Admiral"}), &ada.token).await;
    assert_eq!(app.get(&sms_path, &ada.token).await.body["conversation"]["name"], "Admiral");
    app.delete(&contact_path, &ada.token).await;
    let sms_view = app.get(&sms_path, &ada.token).await.body["conversation"].clone();
    assert_eq!(
        (sms_view["name"].clone(), phone_name(&sms_view)),
        (json!("Grace from the bus"), json!("Grace from the bus"))
    );
}
