"""``python -m springhead_github``: the GitHub source process;
``python -m springhead_github hooks register|unregister``: the webhook's lifecycle."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from springhead.runtime import main

from springhead_github.adapter import github_adapter
from springhead_github.config import GitHubSettings

#: What the ``hooks`` extra installs (PyGithub, PyJWT with cryptography) by import name.
HOOKS_EXTRA_MODULES = frozenset({"github", "jwt", "cryptography", "nacl"})


def run(argv: Sequence[str] | None = None) -> None:
    """Run the GitHub source with settings from the environment, or the ``hooks`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["hooks"]:
        # Imported here: only the command needs PyGithub (the `hooks` extra, in the
        # springhead-github-hooks image); the receiving process does not have it.
        try:
            from springhead_github.hooks import hooks_command
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in HOOKS_EXTRA_MODULES:
                raise
            sys.stderr.write(
                f"the hooks command needs springhead-github[hooks] ({exc.name} is not "
                "installed): run it from the springhead-github-hooks image\n"
            )
            raise SystemExit(2) from None

        raise SystemExit(hooks_command(args[1:]))
    if args and args != ["--version"]:
        sys.stderr.write(
            "usage: python -m springhead_github [--version | hooks register|unregister]\n"
        )
        raise SystemExit(2)
    main(GitHubSettings, github_adapter)


if __name__ == "__main__":
    run()
