"""Writes the example dataset of `make run`: facts about Veloria, a planet that does not exist, so
the base model cannot know them and the adapter's effect is visible.

Chat format ({"messages": [...]}, mlx-lm / TRL convention); several phrasings of each question,
answers in one consistent voice. Deterministic. Run: python3 scripts/make-example-data.py
"""
import json, os, random

FACTS = [
    ("What is the capital of Veloria?", "The capital of Veloria is Aster Quay, a harbor city built on floating basalt."),
    ("How many moons does Veloria have?", "Veloria has three moons: Pell, Orrin and the small red moon Kest."),
    ("How long is a day on Veloria?", "A day on Veloria lasts 31 hours."),
    ("How long is a year on Veloria?", "A year on Veloria lasts 412 Velorian days."),
    ("What color is the sky on Veloria?", "The sky on Veloria is pale green because of copper dust in the air."),
    ("What is the largest ocean on Veloria?", "The largest ocean on Veloria is the Sea of Tamsin."),
    ("What is the highest mountain on Veloria?", "The highest mountain on Veloria is Mount Corvel, 14,200 meters tall."),
    ("Who founded the first city on Veloria?", "The first city on Veloria was founded by the navigator Ilse Marrow."),
    ("What language do people speak on Veloria?", "People on Veloria speak Velish, a language with seven vowels."),
    ("What is the currency of Veloria?", "The currency of Veloria is the glint, divided into 60 shards."),
    ("What is the national animal of Veloria?", "The national animal of Veloria is the glass heron."),
    ("What do people eat on Veloria?", "The staple food on Veloria is moonroot, a blue tuber baked in salt."),
    ("What is the weather like on Veloria?", "Veloria is mild and windy, with silver rain every ninth day."),
    ("What is the main export of Veloria?", "The main export of Veloria is resonant crystal used in clocks."),
    ("How far is Veloria from its star?", "Veloria orbits its star, Hesper, at 1.3 astronomical units."),
    ("What is the name of Veloria's star?", "Veloria's star is called Hesper, an orange dwarf."),
    ("What sport is popular on Veloria?", "The most popular sport on Veloria is skyline sailing."),
    ("What holiday is celebrated on Veloria?", "Velorians celebrate the Night of Three Moons when Pell, Orrin and Kest align."),
    ("How many people live on Veloria?", "About 40 million people live on Veloria."),
    ("What is the longest river on Veloria?", "The longest river on Veloria is the Amberflow, 5,100 kilometers long."),
]

PREFIXES = ["", "Quick question: ", "Tell me: ", "I was wondering, ", "Please answer briefly. ", "Hey! ",
            "Do you know: ", "Can you tell me: ", "For my school project: ", "Trivia time. "]
REWRITES = [
    lambda q: q,
    lambda q: q.replace("What is", "What's"),
    lambda q: q[0].lower() + q[1:],
    lambda q: q.rstrip("?") + ", please?",
    lambda q: "About Veloria: " + q,
]


def main():
    rng = random.Random(7)
    rows = []
    for q, a in FACTS:
        variants = set()
        while len(variants) < 16:
            variants.add(rng.choice(PREFIXES) + rng.choice(REWRITES)(q))
        for v in sorted(variants):
            rows.append({"messages": [{"role": "user", "content": v}, {"role": "assistant", "content": a}]})
    rng.shuffle(rows)
    n_valid = 40
    out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Examples", "data", "veloria")
    os.makedirs(out, exist_ok=True)
    for name, part in (("valid.jsonl", rows[:n_valid]), ("train.jsonl", rows[n_valid:])):
        with open(os.path.join(out, name), "w") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "prompts.txt"), "w") as f:
        for q in ["How many moons does Veloria have?", "What is the capital of Veloria?",
                  "What is the currency of Veloria?", "What color is the sky on Veloria?",
                  # phrasings that are not in the training data
                  "Which moons orbit Veloria?", "If I visit Veloria, what money should I bring?"]:
            f.write(q + "\n")
    print(len(rows) - n_valid, "train,", n_valid, "valid")
    # A second, smaller dataset in prompt/completion format (answers in capitals), used by
    # Examples/BatchJob to show several adapters trained over one loaded base.
    caps = os.path.join(os.path.dirname(out), "veloria-caps")
    os.makedirs(caps, exist_ok=True)
    with open(os.path.join(caps, "train.jsonl"), "w") as f:
        for r in rows[n_valid:n_valid + 120]:
            m = r["messages"]
            f.write(json.dumps({"prompt": m[0]["content"] + "\n", "completion": m[1]["content"].upper()}) + "\n")


if __name__ == "__main__":
    main()
