"""The awareness programme: phishing simulations (campaigns), tracking that counts only people, training, results.

``library`` (Garrison's own templates, training modules and what mail filters' link scanners look like),
``campaigns`` (targets, schedule, sending), ``tracking`` (what each recipient did, scanner or person),
``training`` (assignments, quizzes, reminders), ``results`` (rates per campaign and department, trend).
"""
