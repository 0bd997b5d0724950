"""The AI Hub data terms, cited wherever the project refuses to publish AI Hub data or describes it."""

AIHUB_DATASET_NAME = "AI Hub 유형별 두피 이미지 (dataSetSn=216)"
AIHUB_URL = "https://www.aihub.or.kr/aihubdata/data/view.do?dataSetSn=216"
AIHUB_TERMS = (
    "AI Hub '유형별 두피 이미지' (dataSetSn=216) may only be used by Korean users who applied for "
    "and were granted access on aihub.or.kr, and its terms forbid redistributing the data "
    "(원본 및 가공 데이터의 외부 공개·재배포 금지)."
)


def public_dataset_repo_refusal(api, repo_id: str, fix: str) -> str | None:
    """Why AI Hub data must not go to ``repo_id``, or None: an existing PUBLIC dataset repo stays
    public when a push asks for private, so both AI Hub pushes check this before any upload.

    ``api`` is a ``huggingface_hub.HfApi``; ``fix`` ends the message with what the user can do.
    """
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.repo_info(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return None
    if info.private:
        return None
    return f"dataset repo {repo_id} already exists and is PUBLIC; refusing to put AI Hub data there. {AIHUB_TERMS} {fix}"
