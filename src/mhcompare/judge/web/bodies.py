"""The JSON request bodies of the rating app's API (their fields are its OpenAPI description)."""
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, model_validator
from pydantic_core import PydanticCustomError

from mhcompare.judge.security import UNSTORABLE_TEXT, unstorable


class JsonIn(BaseModel):
    """A request body; text no database can store (a NUL, a lone surrogate) is refused before any
    field is looked at."""

    @model_validator(mode="before")
    @classmethod
    def storable_text(cls, data):
        if unstorable(data):
            raise PydanticCustomError("unstorable_text", UNSTORABLE_TEXT)
        return data


class RatingIn(JsonIn):
    assignment_id: str = Field(max_length=64)
    scores: dict[str, dict[str, Annotated[StrictInt, Field(ge=1, le=5)]]] = Field(
        description="side (left/right, or conversation for single items) -> dimension -> 1-5")
    comment: str = Field(default="", max_length=20000)
    preference: Literal["left", "right", "tie"] | None = None


class InviteIn(JsonIn):
    name: str = Field(min_length=1, max_length=200)


class MessageIn(JsonIn):
    message: str = Field(max_length=20000, description="what the client says this turn")


class LiveRatingIn(JsonIn):
    scores: dict[str, dict[str, StrictInt]] = Field(description="A and B -> dimension -> 1-5")
    comment: str = Field(default="", max_length=20000)
    preference: str | None = Field(default=None, description="A, B or tie")
