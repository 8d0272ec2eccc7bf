"""The pages rendered in Simplified Chinese show no English left over outside the allowed names."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from jobs.core import storage
from jobs.core.models import Job, Output, Workflow
from tests.factories import make_tab, png_bytes

# Words that stay as they are in every language: the product, language names, units, formats.
ALLOWED = {"ComfyWeb", "English", "HTTP", "px", "PNG", "WebP"}
ATTRIBUTES = {"title", "alt", "aria-label", "placeholder"}
TOKEN = re.compile(r"[A-Za-z0-9_.-]+")
HEX_ID = re.compile(r"[0-9a-f-]{6,}")  # tab and job ids, shortened or whole
WORD = re.compile(r"[A-Za-z]{2,}")


class TextScan(HTMLParser):
    """Collects visible text and the text of the attributes people hear or see."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ATTRIBUTES and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def english_words(html: str, allowed: set[str]) -> list[str]:
    scan = TextScan()
    scan.feed(html)
    return [
        f"{word!r} in {text!r}"
        for text in scan.texts
        for token in TOKEN.findall(text)
        if not HEX_ID.fullmatch(token)
        for word in WORD.findall(token)
        if word not in allowed
    ]


@pytest.fixture
def chinese() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")


def _result(session_key: str) -> Output:
    workflow = Workflow.objects.get(slug="blur")
    job = Job.objects.create(
        tab=make_tab(session_key),
        session_key=session_key,
        workflow=workflow,
        status="succeeded",
        params={"image": "8d0f3c5e-0000-4000-8000-000000000000", "blur_radius": 4, "sigma": 2.0},
    )
    name = storage.save_output(job.id, "3", 0, png_bytes(40, 30), "png")
    return Output.objects.create(
        job=job, node_id="3", index=0, file=name, filename="blur_00001_.png", width=40, height=30
    )


@pytest.mark.django_db
def test_the_run_page_in_chinese_has_no_english_left(chinese):
    response = chinese.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "运行" in html and "本标签页的任务" in html
    slugs = set(Workflow.objects.values_list("slug", flat=True))
    assert english_words(html, ALLOWED | slugs) == []


@pytest.mark.django_db
def test_the_gallery_in_chinese_has_no_english_left(chinese):
    chinese.get("/")
    output = _result(chinese.session.session_key)
    response = chinese.get("/gallery/")
    html = response.content.decode()
    assert f'data-gallery-item="{output.id}"' in html
    assert "高斯模糊" in html and "模糊半径" in html and "删除" in html
    # The result's file name and parameter values are data, not words of the page.
    allowed = ALLOWED | set(Workflow.objects.values_list("slug", flat=True)) | {"blur", "png"}
    assert english_words(html, allowed) == []


@pytest.mark.django_db
def test_the_empty_gallery_in_chinese_has_no_english_left(chinese):
    html = chinese.get("/gallery/").content.decode()
    assert "还没有结果" in html
    assert english_words(html, ALLOWED) == []


@pytest.mark.django_db
def test_an_english_browser_gets_english():
    html = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").get("/").content.decode()
    assert '<html lang="en">' in html
    assert "This tab&#x27;s jobs" in html or "This tab's jobs" in html
