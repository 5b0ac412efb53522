"""The storyboard: per chapter a clip with a start and an end frame, its motion and camera
move, and one component sheet (characters, locations, props) for the whole episode.

Steps, each stored in storyboard/storyboard.json with the hash of its inputs, so that a
change redoes only what depends on it and a killed run resumes where it stopped:

    component sheet   <- every chapter's title, visuals and narration; the planner
    shot plan (clip)  <- its chapter, the sheet's components in it; the planner
    start frame       <- the shot's start prompt (with those components' descriptions),
                         the image settings
    end frame         <- the shot's end prompt, the image settings, the start frame

model.py (storyboard.json), components.py and shots.py (the template planner), llm.py
(the LLM planner), planners.py (which one), steps.py (the hashes), frames.py (what a
frame asks of a provider). handlers/run/storyboarding.py runs the steps.
"""
