"""The AI Hub data terms, cited wherever the project refuses to publish AI Hub data or describes it."""

AIHUB_DATASET_NAME = "AI Hub 유형별 두피 이미지 (dataSetSn=216)"
AIHUB_URL = "https://www.aihub.or.kr/aihubdata/data/view.do?dataSetSn=216"
AIHUB_TERMS = (
    "AI Hub '유형별 두피 이미지' (dataSetSn=216) may only be used by Korean users who applied for "
    "and were granted access on aihub.or.kr, and its terms forbid redistributing the data "
    "(원본 및 가공 데이터의 외부 공개·재배포 금지)."
)
