"""The bundled illustrative demo catalog (``data/demo_catalog.csv``).

Every product in it is made up: the brand is "예시 브랜드 (Illustrative)",
names start with "[예시]", the ``illustrative`` column is true, links point to
example.com and the images are PIL drawings (``demo_images.py``). It exists so
the app shows three products for every scalp type × category offline; it is not
a product database and recommends nothing real.

``python -m recommendation.demo --write`` regenerates the CSV from the recipes
below (deterministic); ``python -m recommendation.demo --images OUT_DIR`` renders
every product's illustration; ``demo_catalog()`` loads the CSV, validated and tagged.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog import CATALOG_COLUMNS, load_catalog
from .demo_images import ensure_image
from .survey import CATEGORY_KEYS
from .texts import DATA_DIR

DEMO_CSV = DATA_DIR / "demo_catalog.csv"
DEMO_BRAND = "예시 브랜드 (Illustrative)"
DEMO_NOTICE_KO = "데모용 예시 제품입니다. 실제 판매 제품이 아니며 평점과 리뷰 수도 가상의 값입니다."
DEMO_NOTICE_EN = "Illustrative demo products: not real products; ratings and review counts are made up."

_BASES = {
    "샴푸": (
        "정제수",
        "소듐라우로일메틸이세티오네이트",
        "코카미도프로필베타인",
        "글리세린",
        "시트릭애씨드",
        "향료",
    ),
    "린스/컨디셔너": ("정제수", "세테아릴알코올", "베헨트리모늄클로라이드", "글리세린", "다이메티콘", "향료"),
    "샴푸바/드라이샴푸": ("소듐코코일이세티오네이트", "스테아릭애씨드", "코코넛오일", "정제수", "향료"),
    "헤어오일/헤어세럼": ("사이클로펜타실록세인", "다이메티콘", "호호바씨오일", "토코페롤", "향료"),
    "헤어워터": ("정제수", "부틸렌글라이콜", "글리세린", "폴리솔베이트20", "향료"),
    "두피팩/스케일러": ("정제수", "부틸렌글라이콜", "잔탄검", "글리세린", "향료"),
    "헤어토닉/두피토닉": ("정제수", "에탄올", "부틸렌글라이콜", "향료"),
}
# Three recipes per type; leave-on products never get zinc pyrithione (rinse-off only in Korea).
_ACTIVES = {
    "지성": (
        ("카올린", "살리실릭애씨드"),
        ("나이아신아마이드", "티트리잎오일"),
        ("벤토나이트", "소듐메틸코코일타우레이트"),
    ),
    "건성": (("히알루론산", "세라마이드엔피"), ("스쿠알란", "소듐PCA"), ("판테놀", "락토바실러스발효물")),
    "지루성": (
        ("피록톤올아민", "병풀추출물"),
        ("살리실릭애씨드", "마데카소사이드"),
        ("클림바졸", "병풀추출물"),
    ),
    "비듬성": (("피록톤올아민",), ("클림바졸", "티트리잎오일"), ("살리실릭애씨드", "유황")),
    "탈모성": (("비오틴", "덱스판테놀", "엘-멘톨"), ("카페인", "나이아신아마이드"), ("비오틴", "카페인")),
    "민감성": (
        ("비사보롤", "판테놀"),
        ("마데카소사이드", "알란토인"),
        ("다이포타슘글리시리제이트", "세라마이드엔피"),
    ),
}
_NOUN = {
    "샴푸": "샴푸",
    "린스/컨디셔너": "컨디셔너",
    "샴푸바/드라이샴푸": "샴푸바",
    "헤어오일/헤어세럼": "헤어세럼",
    "헤어워터": "헤어워터",
    "두피팩/스케일러": "두피팩",
    "헤어토닉/두피토닉": "두피토닉",
}
COLUMNS = ("product_id", *CATALOG_COLUMNS, "illustrative")


def build_demo_rows(seed: int = 20241122) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for cat in CATEGORY_KEYS:
        for scalp_type, recipes in _ACTIVES.items():
            for i, actives in enumerate(recipes, start=1):
                pid = f"demo-{len(rows) + 1:03d}"
                base = list(_BASES[cat])
                ingredients = base[:2] + list(actives) + base[2:]
                rows.append(
                    {
                        "product_id": pid,
                        "product_link": f"https://example.com/illustrative/{pid}",
                        "img_link": f"{pid}.png",
                        "product_name": f"[예시] {scalp_type} 두피 {actives[0]} {_NOUN[cat]} {i}",
                        "star": f"{rng.uniform(4.0, 4.95):.1f}",
                        "review_count": int(rng.lognormal(5.0, 1.2)),
                        "ingredient": ", ".join(ingredients),
                        "brand_name": DEMO_BRAND,
                        "category": cat,
                        "illustrative": "true",
                    }
                )
    return rows


def write_demo_csv(path: Path = DEMO_CSV) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(build_demo_rows())
    return path


def demo_catalog(render_images: bool = True, image_directory: Path | None = None) -> pd.DataFrame:
    """The illustrative catalog, validated and tagged; ``img_link`` becomes a local PNG path when rendering."""
    df, warnings = load_catalog(DEMO_CSV)
    if warnings:
        raise RuntimeError("demo_catalog.csv has problems: " + "; ".join(map(str, warnings)))
    df["illustrative"] = df["illustrative"].astype(str).str.lower() == "true"
    if render_images:
        df["img_link"] = [
            str(ensure_image(pid, cat, image_directory)) for pid, cat in zip(df["product_id"], df["category"])
        ]
    df.attrs["notice_ko"], df.attrs["notice_en"] = DEMO_NOTICE_KO, DEMO_NOTICE_EN
    return df


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate data/demo_catalog.csv (illustrative products) or render their illustrations."
    )
    parser.add_argument("--write", action="store_true", help="overwrite data/demo_catalog.csv")
    parser.add_argument(
        "--images", type=Path, metavar="OUT_DIR", help="render every product's illustration here"
    )
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {write_demo_csv()}")
    if args.images:
        df = demo_catalog(image_directory=args.images)
        print(f"rendered {len(df)} images into {args.images}")
    if not (args.write or args.images):
        print(pd.DataFrame(build_demo_rows()).head(10).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
