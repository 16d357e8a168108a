from mhcompare.errors import UserError


class DataError(UserError, ValueError):
    """Bad input data, pointing at the file, line and field at fault and what would be right."""

    def __init__(self, path, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field = str(path), line, field
        where = self.path + (f":{line}" if line is not None else "")
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")
