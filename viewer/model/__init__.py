"""Qt-free state of the viewer: the open study, what is shown, and the results on it."""
