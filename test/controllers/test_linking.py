"""controllers/linking.py: how set-up links Hummingbot's own controllers next to the project's."""
import shutil
import tempfile
import unittest
from pathlib import Path

from controllers import linking


class ControllerLinkingTests(unittest.TestCase):

    def setUp(self):
        self.work = Path(tempfile.mkdtemp(prefix="nonkyc-controllers-"))
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        self.upstream = self.work / "hummingbot" / "controllers"
        self.package = self.work / "repository" / "controllers"
        for path in ("market_making/__init__.py", "market_making/pmm_simple.py", "market_making/nonkyc_pmm.py",
                     "directional_trading/__init__.py", "directional_trading/bollinger_v1.py",
                     "directional_trading/__pycache__/bollinger_v1.cpython-312.pyc", "generic/README.md"):
            self.write(self.upstream / path)
        for path in ("__init__.py", "market_making/__init__.py", "market_making/nonkyc_pmm.py"):
            self.write(self.package / path, "ours")

    @staticmethod
    def write(path: Path, text: str = "upstream"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def test_links_every_controller_and_keeps_the_projects_own_files(self):
        linked, skipped = linking.link_controllers(self.upstream, self.package)

        self.assertEqual(["directional_trading/__init__.py", "directional_trading/bollinger_v1.py",
                          "market_making/pmm_simple.py"], linked)
        self.assertEqual(["market_making/nonkyc_pmm.py"], skipped)
        self.assertEqual("upstream", (self.package / "market_making" / "pmm_simple.py").read_text())
        self.assertTrue((self.package / "market_making" / "pmm_simple.py").is_symlink())
        self.assertEqual("ours", (self.package / "market_making" / "nonkyc_pmm.py").read_text())
        self.assertEqual("ours", (self.package / "market_making" / "__init__.py").read_text())
        self.assertFalse((self.package / "directional_trading" / "__pycache__").exists())
        self.assertFalse((self.package / "generic").exists())

    def test_a_second_run_changes_nothing_and_a_link_elsewhere_is_replaced(self):
        linking.link_controllers(self.upstream, self.package)
        other = self.work / "other" / "controllers"
        self.write(other / "market_making" / "pmm_simple.py", "other")

        self.assertEqual((["directional_trading/__init__.py", "directional_trading/bollinger_v1.py",
                           "market_making/pmm_simple.py"], ["market_making/nonkyc_pmm.py"]),
                         linking.link_controllers(self.upstream, self.package))
        linking.link_controllers(other, self.package)

        self.assertEqual("other", (self.package / "market_making" / "pmm_simple.py").read_text())

    def test_links_whose_target_is_gone_are_removed_with_the_directories_they_leave_empty(self):
        linking.link_controllers(self.upstream, self.package)
        shutil.rmtree(self.upstream)

        removed = linking.remove_dangling_links(self.package)

        self.assertEqual(["directional_trading/__init__.py", "directional_trading/bollinger_v1.py",
                          "market_making/pmm_simple.py"], removed)
        self.assertFalse((self.package / "directional_trading").exists())
        self.assertEqual(["__init__.py", "nonkyc_pmm.py"], sorted(path.name for path in
                                                                  (self.package / "market_making").iterdir()))

    def test_a_directory_without_controllers_is_refused_with_the_variable_named(self):
        with self.assertRaisesRegex(ValueError, "HUMMINGBOT_CONTROLLERS_DIR=.* is not a directory"):
            linking.link_controllers(self.work / "missing", self.package)
        with self.assertRaisesRegex(ValueError, "holds no controllers: expected <type>/<name>.py files"):
            linking.link_controllers(self.package / "market_making", self.package)
