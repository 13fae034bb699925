# Stub of typeshow: the generator reads it for what the code does not annotate.
from typing import Union

def mystery(a: int, b: Union[int, str]) -> Union[int, str]: ...
