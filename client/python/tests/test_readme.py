"""client/README.md's snippets are the example programs the suites run, copied verbatim."""

import os
import re
import unittest

_CLIENT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def fenced_blocks(markdown, language):
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


class ReadmeTest(unittest.TestCase):

    def test_snippets_match_the_examples(self):
        with open(os.path.join(_CLIENT_DIR, "README.md"), encoding="utf-8") as readme:
            markdown = readme.read()
        for language, example in [("python", "python/example.py"), ("js", "node/example.js"),
                                  ("go", "go/example/main.go")]:
            with self.subTest(example):
                with open(os.path.join(_CLIENT_DIR, example), encoding="utf-8") as source:
                    self.assertEqual(fenced_blocks(markdown, language), [source.read()])


if __name__ == "__main__":
    unittest.main()
