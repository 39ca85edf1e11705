// Tocsin's web UI in a real Chromium (Debian's, never a downloaded one), at a desktop and a phone size: the first
// owner signs up from the start link, an incident arrives while the list is open and appears without a reload,
// it is acknowledged, annotated, escalated and resolved from its page; a form another site posts is refused; a
// second person signs in with a password on a phone, where acknowledge and resolve are reachable without
// scrolling. Every page is checked with axe-core. Screenshots go to SCREENSHOTS.
//
// A third person signs in through the OpenID Connect provider the test started.
//
// Environment: TOCSIN_URL, SETUP_LINK, ADMIN_TOKEN, KEY (a PagerDuty integration key), SSO_SUBJECT (whom the
// provider signs in), SCREENSHOTS, CHROMIUM.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const base = process.env.TOCSIN_URL;
const shots = process.env.SCREENSHOTS;
const axeSource = fs.readFileSync(require.resolve("axe-core"), "utf8");
const failures = [];

function check(ok, what) {
  if (!ok) failures.push(what);
}

async function api(method, p, body) {
  const r = await fetch(base + p, {
    method,
    headers: { "Authorization": "Bearer " + process.env.ADMIN_TOKEN, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function trigger(dedup, summary) {
  const r = await fetch(base + "/v2/enqueue", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      routing_key: process.env.KEY, event_action: "trigger", dedup_key: dedup,
      payload: { summary, source: "web-1", severity: "critical" },
    }),
  });
  if (r.status !== 202) throw new Error("enqueue: " + r.status);
}

// axe-core is evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern.
async function audit(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => axe.run({ resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) {
    failures.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const scriptErrors = [];
  try {
    // ---- desktop: the owner's first visit and a whole incident ----
    const desk = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await desk.newPage();
    page.on("pageerror", (e) => scriptErrors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") scriptErrors.push(m.text()); });

    await page.goto(process.env.SETUP_LINK);
    await audit(page, "setup");
    await shot(page, "setup-1440x900");
    await page.getByLabel("Your name").fill("Olga Owner");
    await page.getByLabel("Email").fill("olga@example.com");
    await page.getByLabel(/^Password/).fill("a long enough passphrase");
    await page.getByRole("button", { name: "Create my account" }).click();
    await page.getByRole("heading", { name: "Hello, Olga Owner" }).waitFor();
    await audit(page, "home (empty)");

    await page.goto(base + "/incidents");
    await page.getByText("No incidents here.").waitFor();
    await audit(page, "incidents (empty)");
    const checkoutService = await api("GET", "/api/v1/services/checkout");
    await api("PUT", "/api/v1/runbooks/checkout-errors", {
      title: "Checkout errors", services: [checkoutService.id],
      body: "1. Look at the **latest deploy** among the incident's changes.\n2. Roll it back: `deploy rollback checkout`.\n" +
        "3. Watch the 5xx rate for 10 minutes before resolving.",
      steps: [{ key: "rollback", title: "Roll back the last deploy", needs_approval: true,
        http: { url: "https://deploy.example.com/rollback/checkout", body: '{"incident": "{{incident.number}}"}' } }],
    });
    await trigger("checkout-down", "Checkout returns 502 for 40% of requests");
    // The list refreshes itself: no reload.
    await page.locator("#incident-list").getByText("#1 Checkout returns 502").waitFor({ timeout: 15000 });
    await shot(page, "incidents-1440x900");
    await audit(page, "incidents");

    await page.getByRole("link", { name: /#1 Checkout/ }).click();
    await page.getByRole("heading", { name: /#1 Checkout/ }).waitFor();
    await audit(page, "incident");
    await page.getByRole("button", { name: "Acknowledge" }).click();
    await page.locator(".badge.st-acknowledged").first().waitFor();
    await page.getByLabel(/Add a note/).fill("Rolled back **deploy 41**; watching error rates.");
    await page.getByRole("button", { name: "Add note" }).click();
    await page.locator(".note-body strong", { hasText: "deploy 41" }).waitFor();
    // Olga takes command, and the checklist gets a task she then does.
    await page.getByText("Give a role").click();
    await page.locator('form[action$="/assign"] select[name=role]').selectOption({ label: "Incident commander" });
    await page.locator('form[action$="/assign"] select[name=user]').selectOption({ label: "Olga Owner" });
    await page.getByRole("button", { name: "Give role" }).click();
    await page.getByText("You are Incident commander.").waitFor();
    await page.getByText("Add a task").click();
    await page.locator('form[action$="/tasks"] input[name=title]').fill("Open a bridge");
    await page.getByRole("button", { name: "Add task" }).click();
    await page.getByRole("button", { name: /^Done.*task 1$/ }).click();
    await page.locator("ul.tasks s", { hasText: "Open a bridge" }).waitFor();
    // The service's runbook is on the incident, its steps a tap away.
    await page.locator("details.runbook summary", { hasText: "Checkout errors" }).click();
    await page.locator("details.runbook code", { hasText: "deploy rollback checkout" }).waitFor();
    // Its rollback step waits for a second responder once asked for.
    await page.getByRole("button", { name: "Run Roll back the last deploy" }).click();
    await page.locator("li.run-awaiting_approval", { hasText: "Roll back the last deploy" }).waitFor();
    // Whoever asked may withdraw it, never approve it.
    await page.getByRole("button", { name: "Withdraw Roll back the last deploy" }).waitFor();
    if (await page.getByRole("button", { name: "Approve Roll back the last deploy" }).count() !== 0) {
      throw new Error("the asker is offered to approve their own run");
    }
    // Stakeholders hear where things stand.
    await page.locator("#updates summary", { hasText: "Post an update" }).click();
    await page.getByLabel("What stakeholders should know").fill("Checkout fails for 40% of payments; rolling back deploy 41.");
    await page.getByRole("button", { name: "Post update" }).click();
    await page.locator("ol.updates strong", { hasText: "Update 1" }).waitFor();
    await page.getByRole("button", { name: "Escalate" }).click();
    await page.locator("ol.timeline").getByText("Olga Owner escalated to level 2 of checkout-policy").waitFor();
    await shot(page, "incident-1440x900");

    // ---- a page on another site posts to Tocsin while Olga is signed in ----
    const foreign = await desk.newPage();
    await foreign.setContent(
      `<form method="post" action="${base}/incidents/1/resolve"><button>Go</button></form>`);
    await Promise.all([
      foreign.waitForNavigation(),
      foreign.getByRole("button", { name: "Go" }).click(),
    ]);
    // Chromium sends no SameSite=Lax cookie with another site's form: the request arrives signed out.
    check(/\/login/.test(foreign.url()), "another site's form arrives without the session: " + foreign.url());
    // A request that does carry the session, but says it comes from another site, is refused by Tocsin itself.
    const forged = await desk.request.post(base + "/incidents/1/resolve",
      { headers: { "Sec-Fetch-Site": "cross-site" }, maxRedirects: 0 });
    check(forged.status() === 403, "a cross-site change with the session is refused, got " + forged.status());
    const still = await api("GET", "/api/v1/incidents/1");
    check(still.status === "acknowledged", "the other site's form left the incident as it was: " + still.status);
    await foreign.close();

    await page.getByRole("button", { name: "Resolve" }).click();
    await page.locator(".badge.st-resolved").first().waitFor();
    const resolvedTimeline = await page.locator("ol.timeline").innerText();
    check(/Resolved by Olga Owner/.test(resolvedTimeline), "the timeline credits Olga with resolving: " + resolvedTimeline);
    check(/Acknowledged by Olga Owner/.test(resolvedTimeline), "the timeline credits Olga with acknowledging");

    await page.goto(base + "/");
    await shot(page, "home-1440x900");
    await audit(page, "home");

    // ---- desktop: every other page, as the owner sees it ----
    const start = new Date(Date.now() - 2 * 86400e3).toISOString().slice(0, 10) + "T09:00:00";
    await api("POST", "/api/v1/schedules", {
      name: "checkout-primary", time_zone: "America/New_York",
      layers: [{ name: "weekdays", participants: ["dana@example.com"], rotation: { every: "days", count: 1 }, start,
        restrictions: [{ days: ["Mon", "Tue", "Wed", "Thu", "Fri"], start: "09:00:00", end: "17:00:00" }] }],
    });
    const dana = await api("GET", "/api/v1/users/dana@example.com");
    const checkout = await api("GET", "/api/v1/services/checkout");
    await api("PUT", "/api/v1/status-pages/public", { name: "Example Shop", slug: "public", time_zone: "Europe/Berlin" });
    const shop = await api("POST", "/api/v1/status-pages/public/components", { name: "Shop", group: true, position: 1 });
    const checkoutComponent = await api("POST", "/api/v1/status-pages/public/components",
      { name: "Checkout", group_id: shop.id, services: [checkout.id], description: "Paying for what is in the cart" });
    await api("POST", "/api/v1/status-pages/public/incidents", {
      name: "Some card payments fail", body: "We are investigating failed card payments at checkout.",
      components: [{ component_id: checkoutComponent.id, status: "partial_outage" }] });
    await api("POST", "/api/v1/status-pages/public/components", { name: "Search", group_id: shop.id, position: 2 });
    await api("POST", "/api/v1/status-pages/public/components", { name: "Documentation", position: 2 });
    await page.goto(base + "/incidents/1");
    await page.getByRole("heading", { name: "Status page" }).waitFor();
    await page.getByText("Publish on a status page").click();
    await audit(page, "incident with a status page");
    await page.locator("#status-page").screenshot({ path: path.join(shots, "incident-status-page-1440x900.png") });
    for (const [p, name] of [["/status/public", "status-page"], ["/status-pages", "status-pages"],
      ["/status-pages/public", "status-page-setup"], ["/services", "services"], ["/services/checkout", "service"], ["/catalog", "catalog"],
      ["/admin/people/" + dana.id + "/sessions", "person-sessions"], ["/severities", "severities"],
      ["/response", "response"], ["/runbooks", "runbooks"], ["/runbooks/checkout-errors", "runbook"],
      ["/schedules", "schedules"], ["/schedules/checkout-primary", "schedule"], ["/policies", "policies"],
      ["/policies/checkout-policy", "policy"], ["/alerts", "alerts"], ["/noise", "noise"], ["/admin", "admin"],
      ["/admin/audit", "audit"], ["/profile", "profile"], ["/schedules/checkout-primary/edit", "schedule-edit"],
      ["/policies/checkout-policy/edit", "policy-edit"], ["/schedules/new", "schedule-new"]]) {
      const r = await page.goto(base + p);
      check(r.status() === 200, `${p} answers 200, got ${r.status()}`);
      await audit(page, name);
      await shot(page, name + "-1440x900");
    }
    // A service's integration, made from its page, shows its setup snippet with a copy button.
    await page.goto(base + "/services/checkout");
    await page.getByLabel("Sender").selectOption("alertmanager");
    await page.getByLabel("Name", { exact: true }).first().fill("prod-alertmanager");
    await page.getByRole("button", { name: "Add integration" }).click();
    await page.getByRole("heading", { name: /prod-alertmanager/ }).waitFor();
    const snippet = await page.locator("#new-key-snippet").innerText();
    check(/webhook_configs/.test(snippet) && /\/ingest\/alertmanager\//.test(snippet), "an Alertmanager snippet: " + snippet);
    await audit(page, "service with a new key");
    await shot(page, "service-new-key-1440x900");
    // The catalog applied from a file: the script reads it into the form, a preview says what would change, and
    // applying it makes the change.
    await page.goto(base + "/catalog");
    await page.getByLabel("A file").setInputFiles({
      name: "catalog.yaml", mimeType: "application/yaml",
      buffer: Buffer.from("services:\n  - name: search\n    tier: 2\n"),
    });
    await page.waitForFunction(() => document.getElementById("document").value.includes("name: search"));
    await page.getByRole("button", { name: "Preview" }).click();
    await page.getByRole("status").filter({ hasText: "1 created, 0 updated" }).waitFor();
    check((await api("GET", "/api/v1/services")).items.every((s) => s.name !== "search"), "a preview changes nothing");
    await audit(page, "catalog preview");
    await shot(page, "catalog-preview-1440x900");
    await page.getByRole("button", { name: "Apply", exact: true }).click();
    await page.getByRole("heading", { name: "Applied" }).waitFor();
    check((await api("GET", "/api/v1/services/search")).tier === 2, "the file was applied");
    await desk.close();

    // ---- phone: a second person signs in with a password ----
    await api("POST", "/api/v1/users", { name: "Pat Responder", email: "pat@example.com", time_zone: "Europe/Berlin" });
    const invitation = await api("POST", "/api/v1/users/pat@example.com/invitation", {});
    const phone = await browser.newContext({
      viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
    });
    const p = await phone.newPage();
    p.on("pageerror", (e) => scriptErrors.push(String(e)));
    await p.goto(invitation.link);
    await audit(p, "invitation");
    await p.getByLabel(/^Password/).fill("pat's own passphrase");
    await p.getByRole("button", { name: "Set password and sign in" }).click();
    await p.getByRole("heading", { name: "Hello, Pat Responder" }).waitFor();
    await p.getByRole("button", { name: /Sign out/ }).click();
    await p.getByRole("heading", { name: "Sign in" }).waitFor();
    await audit(p, "sign in");
    await shot(p, "login-375x667");
    await p.getByLabel("Email").fill("pat@example.com");
    await p.getByLabel("Password").fill("pat's own passphrase");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("heading", { name: "Hello, Pat Responder" }).waitFor();
    await p.getByRole("link", { name: "Profile" }).click();
    await p.getByRole("heading", { name: "How you are reached" }).waitFor();
    await p.getByLabel("Name").fill("Phone");
    await p.getByLabel("Kind").selectOption("sms");
    await p.getByLabel("Address, number or URL").fill("not a number");
    await p.getByRole("button", { name: "Add", exact: true }).click();
    await p.locator("#target-problem", { hasText: "international form" }).waitFor();
    check(await p.getByLabel("Address, number or URL").inputValue() === "not a number", "what was typed is kept");
    await audit(p, "profile (with an error)");
    await shot(p, "profile-375x667");
    await p.getByRole("button", { name: "Get a link code" }).click();
    const command = await p.getByRole("status").filter({ hasText: "/tocsin link" }).textContent();
    check(/\/tocsin link [A-Z2-9]{4}-[A-Z2-9]{4}/.test(command), "the profile shows the Slack command to type: " + command);
    await p.locator("#slack").scrollIntoViewIfNeeded();
    await shot(p, "profile-slack-375x667");
    await trigger("search-slow", "Search latency p99 above 2 s");
    await p.goto(base + "/incidents/2");
    await p.getByRole("heading", { name: /#2 Search latency/ }).waitFor();
    for (const name of ["Acknowledge", "Resolve"]) {
      const box = await p.getByRole("button", { name }).boundingBox();
      check(box && box.y + box.height <= 667 && box.height >= 44,
        `${name} is a thumb-sized tap away without scrolling on a phone: ${JSON.stringify(box)}`);
    }
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 375, "nothing is wider than the phone: " + width);
    await shot(p, "incident-375x667");
    await audit(p, "incident (phone)");
    await p.goto(base + "/status/public");
    await p.getByRole("heading", { name: "Example Shop" }).waitFor();
    const pwidth = await p.evaluate(() => document.documentElement.scrollWidth);
    check(pwidth <= 375, "the status page fits a phone: " + pwidth);
    await audit(p, "status page (phone)");
    await shot(p, "status-page-375x667");
    await p.goto(base + "/");
    await shot(p, "home-375x667");
    await p.goto(base + "/incidents");
    await shot(p, "incidents-375x667");

    // ---- phone: the other pages, and an override in two taps ----
    for (const [path_, name] of [["/services", "services"], ["/services/checkout", "service"],
      ["/schedules/checkout-primary", "schedule"], ["/policies/checkout-policy", "policy"], ["/alerts", "alerts"],
      ["/noise", "noise"], ["/schedules/checkout-primary/edit", "schedule-edit"], ["/catalog", "catalog"],
      ["/severities", "severities"], ["/response", "response"], ["/runbooks", "runbooks"],
      ["/runbooks/checkout-errors", "runbook"]]) {
      const r = await p.goto(base + path_);
      check(r.status() === 200, `${path_} answers 200 on a phone, got ${r.status()}`);
      const w = await p.evaluate(() => document.documentElement.scrollWidth);
      check(w <= 375, `nothing on ${path_} is wider than the phone: ${w}`);
      await audit(p, name + " (phone)");
      await shot(p, name + "-375x667");
    }
    const forbidden = await p.goto(base + "/admin");
    check(forbidden.status() === 403, "a responder is not shown administration: " + forbidden.status());
    await p.goto(base + "/schedules/checkout-primary");
    check(!(await p.locator(".timeline-chart").isVisible()), "phones get the agenda, not the timeline");
    await p.getByRole("button", { name: "Take this shift" }).first().click();
    await p.locator("#overrides-panel li strong", { hasText: "Pat Responder" }).waitFor();
    const taken = await api("GET", "/api/v1/schedules/checkout-primary");
    check(taken.overrides.length === 1, "the shift was taken: " + JSON.stringify(taken.overrides));
    await shot(p, "schedule-override-375x667");
    await phone.close();

    // ---- single sign-on: Dana signs in at the provider ----
    const sso = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const d = await sso.newPage();
    d.on("pageerror", (e) => scriptErrors.push(String(e)));
    await d.goto(base + "/incidents");
    await d.getByRole("link", { name: "Sign in with Example SSO" }).click();
    await d.locator("input[name=sub]").fill(process.env.SSO_SUBJECT);
    await d.getByRole("button", { name: "Authorize" }).click();
    await d.getByRole("heading", { name: "Incidents" }).waitFor();
    check(new URL(d.url()).pathname === "/incidents", "back where Dana was going: " + d.url());
    check((await d.locator("form.account").innerText()).includes("Dana"), "signed in as Dana");
    await shot(d, "sso-landed-1440x900");
    await sso.close();
  } finally {
    await browser.close();
  }
  for (const e of scriptErrors) failures.push("script error: " + e);
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
  console.log("ok");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
