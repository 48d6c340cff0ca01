#!/usr/bin/env python3
"""Drives headless Chromium (Selenium) through listctl serve's pages as a
person on a phone would, and keeps a screenshot of each page.

usage: browser_pages.py unsubscribe --url URL --bad-url URL --shots DIR [--map RULES]

unsubscribe: opens the unsubscribe link (GET: a page with one button),
clicks the button, expects the "You are unsubscribed" page; then opens a
forged link and expects the refusal page. Prints one JSON object with what
it saw; exits non-zero when a page is not as expected.
"""
import argparse
import json
import os
import sys

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
    os.makedirs(args.shots, exist_ok=True)
    driver = browser(args.map)
    seen = {}
    try:
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
    finally:
        driver.quit()
    print(json.dumps(seen))
    ok = (seen["form"]["buttons"] == 1 and seen["form"]["button"] == "Unsubscribe" and seen["done"]["h1"] == "You are unsubscribed"
          and seen["bad"]["h1"] == "This link does not work")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("page", choices=["unsubscribe"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bad-url", required=True)
    parser.add_argument("--shots", required=True)
    parser.add_argument("--map", help="Chromium --host-resolver-rules, e.g. 'MAP news.example.org 127.0.0.1:8080'")
    args = parser.parse_args()
    return unsubscribe(args)


if __name__ == "__main__":
    sys.exit(main())
