#!/usr/bin/env python3
"""Drives headless Chromium (Selenium) through listctl serve's pages as a
person on a phone would, and keeps a screenshot of each page.

usage: browser_pages.py unsubscribe --url URL --bad-url URL --shots DIR [--map RULES]
       browser_pages.py issue --url ISSUE-URL --shots DIR [--map RULES]
       browser_pages.py archive --url ARCHIVE-URL [--open TITLE] [--static-url file://.../index.html] --shots DIR [--map RULES]
       browser_pages.py journey --url SUBSCRIBE-URL --outbox MAILDIR --email ADDRESS --shots DIR [--map RULES]

unsubscribe: opens the unsubscribe link (GET: a page with one button),
clicks the button, expects the "You are unsubscribed" page; then opens a
forged link and expects the refusal page.

journey: a person joining: the subscribe form (types the address, presses
the button), the confirmation mail (read from the outbox with Python's email
package; its link followed as mailed), the confirm page and its button, the
welcome mail's preference link, the unsubscribe link of the same mail, and
the preference page again to join back (which mails a new confirmation).

Each prints one JSON object with what it saw and exits non-zero when a page
is not as expected.
"""
import argparse
import contextlib
import email
import email.policy
import json
import os
import re
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def browser(host_rules):
    options = webdriver.ChromeOptions()
    if host_rules:
        options.add_argument("--host-resolver-rules=" + host_rules)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=390,844", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


@contextlib.contextmanager
def session(args):
    """Chromium for one journey: the screenshot folder made, the browser quit however the journey ends."""
    os.makedirs(args.shots, exist_ok=True)
    driver = browser(args.map)
    try:
        yield driver
    finally:
        driver.quit()


def page_facts(driver):
    width = driver.execute_script("return document.documentElement.scrollWidth")
    viewport = driver.execute_script("return window.innerWidth")
    return {
        "title": driver.title,
        "h1": driver.find_element(By.TAG_NAME, "h1").text,
        "lang": driver.find_element(By.TAG_NAME, "html").get_attribute("lang"),
        "scripts": len(driver.find_elements(By.TAG_NAME, "script")),
        # Readable on a phone: nothing wider than the 390-pixel viewport.
        "fitsPhone": width <= viewport,
    }


def unsubscribe(args):
    seen = {}
    with session(args) as driver:
        driver.get(args.url)
        button = WebDriverWait(driver, 20).until(expected_conditions.element_to_be_clickable((By.TAG_NAME, "button")))
        seen["form"] = page_facts(driver) | {"button": button.text, "buttons": len(driver.find_elements(By.TAG_NAME, "button"))}
        driver.save_screenshot(os.path.join(args.shots, "unsubscribe.png"))
        button.click()
        WebDriverWait(driver, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "unsubscribed"))
        seen["done"] = page_facts(driver) | {"url": driver.current_url}
        driver.save_screenshot(os.path.join(args.shots, "unsubscribed.png"))
        driver.get(args.bad_url)
        WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
        seen["bad"] = page_facts(driver)
        driver.save_screenshot(os.path.join(args.shots, "invalid-link.png"))
    print(json.dumps(seen))
    ok = (seen["form"]["buttons"] == 1 and seen["form"]["button"] == "Unsubscribe" and seen["done"]["h1"] == "You are unsubscribed"
          and seen["bad"]["h1"] == "This link does not work")
    return 0 if ok else 1


def mailed_link(outbox, address, subject, segment, timeout=30):
    """The https link with /segment/ in the text part of the newest mail to address whose subject has subject."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for sub in ("new", "cur"):
            folder = os.path.join(outbox, sub)
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                with open(os.path.join(folder, name), "rb") as handle:
                    message = email.message_from_binary_file(handle, policy=email.policy.default)
                if address.lower() not in str(message["To"]).lower() or subject not in str(message["Subject"]):
                    continue
                text = message.get_body(preferencelist=("plain",)).get_content()
                for link in re.findall(r"https?://[^\s<>\"]+", text):
                    if "/" + segment + "/" in link:
                        # Followed as mailed; the proxy in front of serve is played by --host-resolver-rules over http.
                        return link.replace("https://", "http://", 1)
        time.sleep(0.25)
    raise SystemExit(f"no mail to {address} with {subject!r} and a /{segment}/ link in {outbox}")


def journey(args):
    seen = {}
    with session(args) as driver:
        wait = WebDriverWait(driver, 20)
        driver.get(args.url)
        field = wait.until(expected_conditions.element_to_be_clickable((By.ID, "email")))
        seen["subscribe"] = page_facts(driver) | {"trapVisible": driver.find_element(By.ID, "website").is_displayed()}
        driver.save_screenshot(os.path.join(args.shots, "subscribe.png"))
        field.send_keys(args.email)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Check your inbox"))
        seen["checkInbox"] = page_facts(driver)
        driver.save_screenshot(os.path.join(args.shots, "check-inbox.png"))

        driver.get(mailed_link(args.outbox, args.email, "Confirm your subscription", "confirm"))
        button = wait.until(expected_conditions.element_to_be_clickable((By.TAG_NAME, "button")))
        seen["confirm"] = page_facts(driver) | {"button": button.text}
        driver.save_screenshot(os.path.join(args.shots, "confirm.png"))
        button.click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "You are subscribed"))
        seen["confirmed"] = page_facts(driver)
        driver.save_screenshot(os.path.join(args.shots, "confirmed.png"))

        preferences = mailed_link(args.outbox, args.email, "Welcome", "preferences")
        driver.get(preferences)
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your subscriptions"))
        boxes = driver.find_elements(By.CSS_SELECTOR, "input[type=checkbox]")
        seen["preferences"] = page_facts(driver) | {"boxes": len(boxes), "ticked": sum(1 for b in boxes if b.is_selected())}
        driver.save_screenshot(os.path.join(args.shots, "preferences.png"))

        driver.get(mailed_link(args.outbox, args.email, "Welcome", "unsubscribe"))
        wait.until(expected_conditions.element_to_be_clickable((By.TAG_NAME, "button"))).click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "You are unsubscribed"))
        seen["unsubscribed"] = page_facts(driver)

        driver.get(preferences)
        box = wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "input[type=checkbox]")))
        was = box.is_selected()
        box.click()
        driver.find_element(By.CSS_SELECTOR, "button[value=save]").click()
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=status]")))
        seen["saved"] = page_facts(driver) | {"tickedBefore": was, "tickedAfter": driver.find_element(By.CSS_SELECTOR, "input[type=checkbox]").is_selected(), "notice": driver.find_element(By.CSS_SELECTOR, "[role=status]").text}
        driver.save_screenshot(os.path.join(args.shots, "preferences-saved.png"))
    print(json.dumps(seen))
    ok = (not seen["subscribe"]["trapVisible"] and seen["confirm"]["button"] == "Yes, subscribe me"
          and seen["preferences"]["ticked"] == 1 and seen["unsubscribed"]["h1"] == "You are unsubscribed"
          and not seen["saved"]["tickedBefore"] and "again" in seen["saved"]["notice"] and seen["saved"]["tickedAfter"])
    return 0 if ok else 1


def issue(args):
    """An archive page: read it, follow a footnote reference down and its back-link up."""
    seen = {}
    with session(args) as driver:
        driver.get(args.url)
        WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
        seen["issue"] = page_facts(driver)
        driver.save_screenshot(os.path.join(args.shots, "issue.png"))
        reference = driver.find_element(By.CSS_SELECTOR, "a[href^='#fn-']")
        reference.click()
        seen["note"] = {"url": driver.current_url}
        back = driver.find_element(By.CSS_SELECTOR, "a[href^='#fnref-']")
        back.click()
        seen["back"] = {"url": driver.current_url}
    print(json.dumps(seen))
    ok = seen["issue"]["scripts"] == 0 and "#fn-" in seen["note"]["url"] and "#fnref-" in seen["back"]["url"]
    return 0 if ok else 1


def column(driver):
    """The reading column: the width and left edge of the page's main content, and the window's width."""
    return driver.execute_script(
        "const r = document.querySelector('main').getBoundingClientRect();"
        "return {width: Math.round(r.width), left: Math.round(r.left), window: window.innerWidth,"
        " scrollWidth: document.documentElement.scrollWidth};")


def archive(args):
    """The archive as a reader uses it, on a phone and then on a desktop: the list of issues, one issue opened
    from it (its footnote followed when it has one), the way back; then the static export, from disk."""
    seen = {}
    with session(args) as driver:
        for size, (width, height) in (("phone", (390, 844)), ("desktop", (1280, 900))):
            driver.set_window_size(width, height)
            driver.get(args.url)
            WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "ol.issues a")))
            links = driver.find_elements(By.CSS_SELECTOR, "ol.issues h2 a")
            seen["archive-" + size] = page_facts(driver) | {
                "issues": [link.text for link in links],
                "feed": [e.get_attribute("href") for e in driver.find_elements(By.CSS_SELECTOR, "link[rel=alternate]")],
                "column": column(driver),
            }
            driver.save_screenshot(os.path.join(args.shots, f"archive-{size}.png"))
            target = next((link for link in links if link.text == args.open), links[0])
            target.click()
            WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "article")))
            facts = page_facts(driver) | {"url": driver.current_url, "column": column(driver)}
            driver.save_screenshot(os.path.join(args.shots, f"issue-{size}.png"))
            notes = driver.find_elements(By.CSS_SELECTOR, "a[href^='#fn-']")
            if notes:
                notes[0].click()
                facts["note"] = driver.current_url
                driver.find_element(By.CSS_SELECTOR, "a[href^='#fnref-']").click()
                facts["back"] = driver.current_url
            driver.find_element(By.CSS_SELECTOR, "footer.archive a").click()
            WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "ol.issues")))
            facts["backToArchive"] = driver.current_url
            seen["issue-" + size] = facts
        if args.static_url:
            driver.set_window_size(1280, 900)
            driver.get(args.static_url)
            WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "ol.issues a")))
            links = driver.find_elements(By.CSS_SELECTOR, "ol.issues h2 a")
            static = {"issues": [link.text for link in links]}
            target = next((link for link in links if link.text == args.open), links[0])
            target.click()
            WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "article")))
            static["issue"] = {"url": driver.current_url, "h1": driver.find_element(By.TAG_NAME, "h1").text}
            driver.save_screenshot(os.path.join(args.shots, "export-issue.png"))
            driver.find_element(By.CSS_SELECTOR, "footer.archive a").click()
            WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "ol.issues")))
            static["backToArchive"] = driver.current_url
            seen["export"] = static
    print(json.dumps(seen))
    ok = all(seen[k]["scripts"] == 0 for k in seen if k != "export")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("page", choices=["unsubscribe", "journey", "issue", "archive"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bad-url")
    parser.add_argument("--outbox")
    parser.add_argument("--email")
    parser.add_argument("--open", help="archive: the title of the issue to open (else the newest)")
    parser.add_argument("--static-url", help="archive: the static export's index.html, as a file:// URL")
    parser.add_argument("--shots", required=True)
    parser.add_argument("--map", help="Chromium --host-resolver-rules, e.g. 'MAP news.example.org 127.0.0.1:8080'")
    args = parser.parse_args()
    return {"journey": journey, "issue": issue, "unsubscribe": unsubscribe, "archive": archive}[args.page](args)


if __name__ == "__main__":
    sys.exit(main())
