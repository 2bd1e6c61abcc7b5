"""The image of a multipart form (the page at `/` and POST /v1/lookup), or a MalformedError that
says to choose one: a browser sends a form whose file input is empty as a part with no file
name and no bytes, which is a missing image, not an unreadable one."""

from starlette.datastructures import FormData, UploadFile

from ledger.errors import MalformedError

CHOOSE_FIRST = "choose an image first"


async def uploaded_image(form: FormData) -> tuple[bytes, str]:
    """The bytes and file name of the form's `image` field."""
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise MalformedError(
            f"{CHOOSE_FIRST}: the form has no file field named 'image'", code="no_image"
        )
    data = await upload.read()
    if not data:
        what = f"the file {upload.filename!r} is empty" if upload.filename else "no file was sent"
        raise MalformedError(f"{CHOOSE_FIRST}: {what}", code="no_image")
    return data, upload.filename or "image"
