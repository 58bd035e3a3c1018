"""examples/multi in Python: the same project as bakepy.toml, built with a loop instead of a matrix.

cd examples/multi && bakepy plan -f bakefile.py
"""

from bakepy import Group, Project, ProjectSettings, Target, Variable

PYTHONS = {"311": "3.11", "312": "3.12", "313": "3.13"}

apps = {
    f"app-py{short}": Target(
        image=f"multi-py{short}",
        args={"PYTHON_VERSION": version},
        labels={"org.opencontainers.image.version": "${VERSION}"},
    )
    for short, version in PYTHONS.items()
}

project = Project(
    settings=ProjectSettings(
        registries=["127.0.0.1:5000/examples"],
        platforms=["linux/amd64", "linux/arm64"],
        tags=["latest", "${VERSION}"],
    ),
    variables={"VERSION": Variable(default="1.0", description="The app's release")},
    targets=apps,
    groups={"default": Group(targets=["app"]), "app": Group(targets=list(apps))},
)
