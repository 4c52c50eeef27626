"""Dataset recipes: builtin plugins that build a task's data offline from installed packages (VADER ratings,
eSpeak NG speech, scikit-learn digits, HMMER families, the music21 corpus, annotated samples, Debian fortunes)."""
