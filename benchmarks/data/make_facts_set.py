"""Writes facts_labelled.jsonl: the labelled statements bench_facts.py scores fact extraction and decisions on.

Every statement, stored fact and label below was written by hand for this set (no text taken from LoCoMo or any
other data set). Each case is a message said at a time, the facts already stored before it, the facts it should
yield (each with the words a right fact must contain) and the decisions it should cause (op, the stored fact it
targets). Run `python benchmarks/data/make_facts_set.py` to rewrite the JSONL after editing.
"""

# ruff: noqa: E501  (one labelled case a line reads better than wrapped ones)
from __future__ import annotations

import json
from pathlib import Path

SAID = "2023-05-08T13:56:00+00:00"  # a Monday

# (message, [(fact, [words it must contain]), ...]): plain statements; each fact is ADDed.
STATEMENTS = [
    ("I live in Porto.", [("The user lives in Porto.", ["lives in porto"])]),
    ("I work at a bakery downtown.", [("The user works at a bakery downtown.", ["works at a bakery"])]),
    ("My sister is a nurse in Leeds.", [("The user's sister is a nurse in Leeds.", ["sister", "nurse"])]),
    ("I'm allergic to shellfish.", [("The user is allergic to shellfish.", ["is allergic to shellfish"])]),
    ("I have two cats named Miso and Tofu.", [("The user has two cats named Miso and Tofu.", ["has two cats", "miso"])]),
    ("I play the cello in a community orchestra.", [("The user plays the cello in a community orchestra.", ["plays the cello"])]),
    ("My favourite food is ramen.", [("The user's favourite food is ramen.", ["favourite food is ramen"])]),
    ("I teach chemistry at a high school.", [("The user teaches chemistry at a high school.", ["teaches chemistry"])]),
    ("I'm vegetarian.", [("The user is vegetarian.", ["is vegetarian"])]),
    ("I go climbing every Thursday.", [("The user goes climbing every Thursday.", ["goes climbing"])]),
    ("My husband is called Tomas.", [("The user's husband is called Tomas.", ["husband", "tomas"])]),
    ("I speak Portuguese and a little Japanese.", [("The user speaks Portuguese and a little Japanese.", ["speaks portuguese"])]),
    ("I drive a blue Toyota.", [("The user drives a blue Toyota.", ["drives a blue toyota"])]),
    ("I study architecture at the university.", [("The user studies architecture at the university.", ["studies architecture"])]),
    ("I hate horror movies.", [("The user hates horror movies.", ["hates horror movies"])]),
    ("I love hiking in the Alps.", [("The user loves hiking in the Alps.", ["loves hiking"])]),
    ("My daughter just started kindergarten.", [("The user's daughter just started kindergarten.", ["daughter", "kindergarten"])]),
    ("I'm training for a marathon.", [("The user is training for a marathon.", ["training for a marathon"])]),
    ("I collect vintage postcards.", [("The user collects vintage postcards.", ["collects vintage postcards"])]),
    ("I grew up on a farm in Iowa.", [("The user grew up on a farm in Iowa.", ["grew up on a farm"])]),
    ("I was born in 1988.", [("The user was born in 1988.", ["born in 1988"])]),
    ("I'm 34 years old.", [("The user is 34 years old.", ["34 years old"])]),
    ("My brother runs a small bike shop.", [("The user's brother runs a small bike shop.", ["brother runs a small bike shop"])]),
    ("I prefer tea over coffee.", [("The user prefers tea over coffee.", ["prefers tea"])]),
    ("I volunteer at the animal shelter on weekends.", [("The user volunteers at the animal shelter on weekends.", ["volunteers at the animal shelter"])]),
    ("I use a wheelchair.", [("The user uses a wheelchair.", ["uses a wheelchair"])]),
    ("I watch a lot of anime.", [("The user watches a lot of anime.", ["watches a lot of anime"])]),
    ("My mom lives with us.", [("The user's mom lives with the user's family.", ["mom lives with"])]),
    ("I fix old radios as a hobby.", [("The user fixes old radios as a hobby.", ["fixes old radios"])]),
    ("I have a peanut allergy.", [("The user has a peanut allergy.", ["peanut allergy"])]),
    ("I'm learning to knit.", [("The user is learning to knit.", ["learning to knit"])]),
    ("I carry an inhaler for my asthma.", [("The user carries an inhaler for the user's asthma.", ["carries an inhaler"])]),
    ("I worry about my dad's health.", [("The user worries about the user's dad's health.", ["worries about"])]),
    ("I bake bread every Sunday.", [("The user bakes bread every Sunday.", ["bakes bread"])]),
    ("I finished my PhD in linguistics.", [("The user finished the user's PhD in linguistics.", ["finished", "phd in linguistics"])]),
    ("I own a small apartment by the river.", [("The user owns a small apartment by the river.", ["owns a small apartment"])]),
    ("I'm a night-shift nurse.", [("The user is a night-shift nurse.", ["is a night-shift nurse"])]),
    ("I rarely eat meat.", [("The user rarely eats meat.", ["rarely eats meat"])]),
    ("I always take the train to work.", [("The user always takes the train to work.", ["always takes the train"])]),
    ("My son plays soccer for his school.", [("The user's son plays soccer for his school.", ["son plays soccer"])]),
    ("Hi! I live in Quito and I work as a translator.", [("The user lives in Quito and works as a translator.", ["quito", "translator"])]),
    ("I'm moving to Denver in the fall.", [("The user is moving to Denver in the fall.", ["moving to denver"])]),
    ("I sing in a choir.", [("The user sings in a choir.", ["sings in a choir"])]),
    ("My best friend Ana lives in Madrid.", [("The user's best friend Ana lives in Madrid.", ["ana", "madrid"])]),
    ("I can't eat gluten.", [("The user cannot eat gluten.", ["cannot eat gluten"])]),
    ("I've been a pilot for ten years.", [("The user has been a pilot for ten years.", ["has been a pilot"])]),
    ("I'd like to visit Iceland someday.", [("The user would like to visit Iceland someday.", ["would like to visit iceland"])]),
    ("My car is a 2015 Honda Civic.", [("The user's car is a 2015 Honda Civic.", ["honda civic"])]),
    ("I keep bees in my backyard.", [("The user keeps bees in the user's backyard.", ["keeps bees"])]),
    ("Well, I mostly cook Thai food at home.", [("The user mostly cooks Thai food at home.", ["mostly cooks thai food"])]),
    ("I practise yoga before work.", [("The user practises yoga before work.", ["practises yoga"])]),
    ("I run a podcast about board games.", [("The user runs a podcast about board games.", ["runs a podcast"])]),
    ("My grandmother taught me to sew.", [("The user's grandmother taught the user to sew.", ["grandmother taught the user to sew"])]),
    ("I am a member of the chess club.", [("The user is a member of the chess club.", ["member of the chess club"])]),
    ("I wear glasses.", [("The user wears glasses.", ["wears glasses"])]),
    ("I manage a team of six engineers.", [("The user manages a team of six engineers.", ["manages a team"])]),
    ("I enjoy painting watercolours of birds.", [("The user enjoys painting watercolours of birds.", ["enjoys painting"])]),
    ("I write short stories in my spare time.", [("The user writes short stories in the user's spare time.", ["writes short stories"])]),
    ("My parents live in Nairobi.", [("The user's parents live in Nairobi.", ["parents live in nairobi"])]),
    ("I do my grocery shopping at the farmers market.", [("The user does the user's grocery shopping at the farmers market.", ["does", "farmers market"])]),
]

# Messages with no fact worth keeping.
CHIT_CHAT = [
    "Hey! How are you doing today?", "Thanks so much, that's really kind of you!", "I totally agree with you.",
    "I'm so proud of you!", "Haha, that's hilarious.", "Good morning!", "I'm so happy for you!",
    "Wow, that sounds amazing.", "I know, right?", "See you tomorrow!", "I think so too.", "I hope you feel better soon.",
    "That's a great idea.", "I love that!", "I'm sorry to hear that.", "Congrats on the new job!",
    "I can't wait to see it!", "I appreciate you telling me.", "Take care of yourself.", "I see what you mean.",
    "Sounds good to me.", "I'm glad you had fun.", "Lol, same here.", "I understand how you feel.",
    "Oh nice, tell me more!", "I bet that was fun.", "Thank you for listening.", "Good luck with the exam!",
    "I guess that makes sense.", "Cool, cool.", "I hear you.", "I wish you all the best.", "Awesome, thanks!",
    "I'm all ears.", "What a lovely photo!", "I couldn't agree more.", "I'm fine, thanks for asking.",
    "I did it!", "Nice one!", "You're the best!",
]

# (stored facts, message, corrected fact, [words it must contain], index of the stored fact it corrects)
CORRECTIONS = [
    (["The user is allergic to nuts."], "Actually I'm not allergic to nuts anymore, it was peanuts only.",
     "The user is allergic to peanuts.", ["allergic to peanuts"], 0),
    (["The user lives in Lyon."], "Actually, I live in Marseille, not Lyon.", "The user lives in Marseille.", ["marseille"], 0),
    (["The user works at Oracle."], "Sorry, I meant I work at Salesforce, not Oracle.", "The user works at Salesforce.", ["salesforce"], 0),
    (["The user's sister is called Maria."], "Actually my sister is called Marta, not Maria.", "The user's sister is called Marta.", ["marta"], 0),
    (["The user has two dogs."], "Actually I have three dogs, not two.", "The user has three dogs.", ["three dogs"], 0),
    (["The user is 30 years old."], "Actually, I'm 31 years old, not 30.", "The user is 31 years old.", ["31"], 0),
    (["The user drives a Ford."], "Correction: I drive a Fiat, not a Ford.", "The user drives a Fiat.", ["fiat"], 0),
    (["The user plays the violin."], "Actually I play the viola, not the violin.", "The user plays the viola.", ["viola"], 0),
    (["The user studies at Oxford."], "Actually, I study at Cambridge, not Oxford.", "The user studies at Cambridge.", ["cambridge"], 0),
    (["The user's husband is called Tim."], "Actually my husband is called Tom, not Tim.", "The user's husband is called Tom.", ["tom"], 0),
    (["The user is allergic to cats."], "Actually I'm not allergic to cats, it was dogs only.", "The user is allergic to dogs.", ["allergic to dogs"], 0),
    (["The user lives in Berlin."], "No wait, I live in Munich, not Berlin.", "The user lives in Munich.", ["munich"], 0),
    (["The user works as a teacher."], "Actually I work as a librarian, not a teacher.", "The user works as a librarian.", ["librarian"], 0),
    (["The user was born in 1990."], "Actually I was born in 1991, not 1990.", "The user was born in 1991.", ["1991"], 0),
    (["The user's favourite colour is blue."], "Actually my favourite colour is green, not blue.", "The user's favourite colour is green.", ["green"], 0),
    (["The user has a son."], "Actually I have a daughter, not a son.", "The user has a daughter.", ["daughter"], 0),
    (["The user is allergic to penicillin."], "Actually, I'm not allergic to penicillin, it was amoxicillin only.", "The user is allergic to amoxicillin.", ["amoxicillin"], 0),
    (["The user works at the city hospital."], "Actually I work at the children's hospital, not the city hospital.", "The user works at the children's hospital.", ["children's hospital"], 0),
    (["The user speaks French."], "Actually I speak Spanish, not French.", "The user speaks Spanish.", ["spanish"], 0),
    (["The user lives in Toronto."], "I meant I live in Ottawa, not Toronto.", "The user lives in Ottawa.", ["ottawa"], 0),
    (["The user's brother is a doctor."], "Actually my brother is a dentist, not a doctor.", "The user's brother is a dentist.", ["dentist"], 0),
    (["The user has a cat named Luna."], "Actually my cat is named Nova, not Luna.", "The user's cat is named Nova.", ["nova"], 0),
    (["The user runs five kilometres a day."], "Actually I run ten kilometres a day, not five.", "The user runs ten kilometres a day.", ["ten kilometres"], 0),
    (["The user is married to Sam."], "Actually I'm married to Sasha, not Sam.", "The user is married to Sasha.", ["sasha"], 0),
    (["The user works at Acme."], "To be clear, I work at Initech, not Acme.", "The user works at Initech.", ["initech"], 0),
    (["The user is lactose intolerant."], "Actually I'm not lactose intolerant, it was gluten only.", "The user is gluten intolerant.", ["gluten"], 0),
    (["The user lives in Sydney."], "Actually I live in Perth, not Sydney.", "The user lives in Perth.", ["perth"], 0),
    (["The user's daughter is 7."], "Actually my daughter is 8, not 7.", "The user's daughter is 8.", ["8"], 0),
    (["The user plays tennis on Mondays."], "Actually I play tennis on Tuesdays, not Mondays.", "The user plays tennis on Tuesdays.", ["tuesdays"], 0),
    (["The user teaches history."], "Actually I teach geography, not history.", "The user teaches geography.", ["geography"], 0),
]

# (stored facts, message, new fact, [must], index of the stored fact it supersedes): a new value of a
# single-valued attribute; the old fact stays as history.
CHANGES = [
    (["The user lives in Lyon."], "I moved to Paris last month.", "The user moved to Paris in April 2023.", ["paris", "april 2023"], 0),
    (["The user works at Google."], "I joined Microsoft last week.", "The user joined Microsoft in the week of 1 May 2023.", ["microsoft"], 0),
    (["The user lives in Boston."], "I live in Chicago now.", "The user lives in Chicago now.", ["chicago"], 0),
    (["The user is married to Ben."], "I'm married to Chris now.", "The user is married to Chris now.", ["chris"], 0),
    (["The user works at a bank."], "I work at a startup now.", "The user works at a startup now.", ["startup"], 0),
    (["The user lives in Oslo."], "We relocated to Bergen.", "The user relocated to Bergen.", ["bergen"], 0),
    (["The user drives a Mazda."], "I drive a Tesla these days.", "The user drives a Tesla these days.", ["tesla"], 0),
    (["The user studies at MIT."], "I study at Stanford now.", "The user studies at Stanford now.", ["stanford"], 0),
    (["The user is 29 years old."], "I turned 30 yesterday.", "The user turned 30 on 7 May 2023.", ["30"], 0),
    (["The user lives in Rome."], "I moved to Milan two years ago.", "The user moved to Milan in 2021.", ["milan", "2021"], 0),
    (["The user works for the government."], "I started working at a law firm last month.", "The user started working at a law firm in April 2023.", ["law firm"], 0),
    (["The user's girlfriend is Jess."], "My girlfriend is Kim now.", "The user's girlfriend is Kim now.", ["kim"], 0),
    (["The user lives in Austin."], "I moved to Seattle in January.", "The user moved to Seattle in January.", ["seattle"], 0),
    (["The user works as a waiter."], "I work as a chef now.", "The user works as a chef now.", ["chef"], 0),
    (["The user lives in Dublin."], "I have moved to Cork.", "The user has moved to Cork.", ["cork"], 0),
    (["The user works at IKEA."], "I got a job at Volvo last year.", "The user got a job at Volvo in 2022.", ["volvo"], 0),
    (["The user lives in Kyoto."], "I moved back to Osaka last week.", "The user moved back to Osaka in the week of 1 May 2023.", ["osaka"], 0),
    (["The user is dating Alex."], "I'm dating Jordan now.", "The user is dating Jordan now.", ["jordan"], 0),
    (["The user lives in a flat in Leeds."], "I live in York now.", "The user lives in York now.", ["york"], 0),
    (["The user works at the post office."], "I took a job at the library last month.", "The user took a job at the library in April 2023.", ["library"], 0),
    (["The user lives in Lagos."], "I relocated to Accra.", "The user relocated to Accra.", ["accra"], 0),
    (["The user works for Deloitte."], "I work for KPMG since March.", "The user works for KPMG since March.", ["kpmg"], 0),
    (["The user lives in Hanoi."], "I'm based in Saigon now.", "The user is based in Saigon now.", ["saigon"], 0),
    (["The user works as a nurse."], "I work as a midwife now.", "The user works as a midwife now.", ["midwife"], 0),
    (["The user lives in Phoenix."], "I moved to Tucson 3 weeks ago.", "The user moved to Tucson in the week of 17 April 2023.", ["tucson"], 0),
    (["The user lives in Vienna."], "Last month I moved to Graz.", "Last month the user moved to Graz.", ["graz"], 0),
    (["The user works at Zara."], "I started a new job at H&M yesterday.", "The user started a new job at H&M on 7 May 2023.", ["h&m"], 0),
    (["The user's wife is Rose."], "My wife is Lily.", "The user's wife is Lily.", ["lily"], 0),
    (["The user lives in Cairo."], "I live in Alexandria these days.", "The user lives in Alexandria these days.", ["alexandria"], 0),
    (["The user studies at Yale."], "I'm studying at Brown now.", "The user is studying at Brown now.", ["brown"], 0),
]

# (stored facts, message, target index or None, fact it yields or None): negations. With a target, the stored fact
# stops being true (DELETE, kept as history); without, the negative statement is itself a fact (ADD).
NEGATIONS = [
    (["The user eats meat."], "I no longer eat meat.", 0, None),
    (["The user smokes."], "I quit smoking.", 0, None),
    (["The user plays golf."], "I don't play golf anymore.", 0, None),
    (["The user drinks coffee every morning."], "I no longer drink coffee every morning.", 0, None),
    (["The user goes to the gym."], "I stopped going to the gym.", 0, None),
    (["The user is vegan."], "I'm not vegan anymore.", 0, None),
    (["The user owns a motorbike."], "I don't own a motorbike anymore.", 0, None),
    (["The user watches football."], "I don't watch football anymore.", 0, None),
    (["The user has a beard."], "I no longer have a beard.", 0, None),
    (["The user takes the bus to work."], "I don't take the bus to work anymore.", 0, None),
    (["The user works night shifts."], "I no longer work night shifts.", 0, None),
    (["The user plays in a band."], "I don't play in a band anymore.", 0, None),
    (["The user uses Instagram."], "I stopped using Instagram.", 0, None),
    (["The user goes running every day."], "I don't go running every day anymore.", 0, None),
    (["The user is learning German."], "I'm not learning German anymore.", 0, None),
    ([], "I don't like spicy food.", None, ("The user does not like spicy food.", ["does not like spicy food"])),
    ([], "I never drink alcohol.", None, ("The user never drinks alcohol.", ["never drinks alcohol"])),
    ([], "I'm not a morning person.", None, ("The user is not a morning person.", ["not a morning person"])),
    ([], "I don't have any siblings.", None, ("The user does not have any siblings.", ["does not have any siblings"])),
    ([], "I can't swim.", None, ("The user cannot swim.", ["cannot swim"])),
    ([], "I don't eat pork.", None, ("The user does not eat pork.", ["does not eat pork"])),
    ([], "I haven't been to Asia.", None, ("The user has not been to Asia.", ["has not been to asia"])),
    ([], "My kids don't like broccoli.", None, ("The user's kids don't like broccoli.", ["kids", "broccoli"])),
    ([], "I didn't go to college.", None, ("The user did not go to college.", ["did not go to college"])),
    ([], "I won't work on weekends.", None, ("The user will not work on weekends.", ["will not work on weekends"])),
]

# (message, fact, [must]): relative times resolved against SAID (Monday 8 May 2023).
RELATIVE = [
    ("I went to a support group yesterday.", "The user went to a support group on 7 May 2023.", ["support group", "7 may 2023"]),
    ("I ran a charity race last Saturday.", "The user ran a charity race on 6 May 2023.", ["charity race", "6 may 2023"]),
    ("I painted a lake sunrise last year.", "The user painted a lake sunrise in 2022.", ["lake sunrise", "2022"]),
    ("I adopted a puppy last week.", "The user adopted a puppy in the week of 1 May 2023.", ["adopted a puppy", "1 may 2023"]),
    ("I started a pottery class last month.", "The user started a pottery class in April 2023.", ["pottery", "april 2023"]),
    ("I got promoted two weeks ago.", "The user got promoted in the week of 24 April 2023.", ["promoted", "24 april 2023"]),
    ("I'm flying to Lisbon tomorrow.", "The user is flying to Lisbon on 9 May 2023.", ["lisbon", "9 may 2023"]),
    ("I have a dentist appointment next Friday.", "The user has a dentist appointment on 12 May 2023.", ["dentist", "12 may 2023"]),
    ("I'm starting a new course next month.", "The user is starting a new course in June 2023.", ["course", "june 2023"]),
    ("I visited my grandma 3 days ago.", "The user visited the user's grandma on 5 May 2023.", ["grandma", "5 may 2023"]),
    ("I finished my thesis today.", "The user finished the user's thesis on 8 May 2023.", ["thesis", "8 may 2023"]),
    ("I broke my wrist last night.", "The user broke the user's wrist on the night of 7 May 2023.", ["wrist", "7 may 2023"]),
    ("I went camping last weekend.", "The user went camping on the weekend of 6 May 2023.", ["camping", "6 may 2023"]),
    ("I met my partner five years ago.", "The user met the user's partner in 2018.", ["partner", "2018"]),
    ("I'm getting married next year.", "The user is getting married in 2024.", ["married", "2024"]),
    ("I saw a concert by Adele last Friday.", "The user saw a concert by Adele on 5 May 2023.", ["adele", "5 may 2023"]),
    ("I lost my job a month ago.", "The user lost the user's job in April 2023.", ["lost", "april 2023"]),
    ("I signed up for a marathon this week.", "The user signed up for a marathon in the week of 8 May 2023.", ["marathon", "8 may 2023"]),
    ("I bought a new bike yesterday.", "The user bought a new bike on 7 May 2023.", ["bike", "7 may 2023"]),
    ("I gave a talk at my school last Tuesday.", "The user gave a talk at the user's school on 2 May 2023.", ["talk", "2 may 2023"]),
    ("Yesterday I went to the beach with my kids.", "On 7 May 2023 the user went to the beach with the user's kids.", ["beach", "7 may 2023"]),
    ("I'm going to Japan next week.", "The user is going to Japan in the week of 15 May 2023.", ["japan", "15 may 2023"]),
    ("I had surgery two months ago.", "The user had surgery in March 2023.", ["surgery", "march 2023"]),
    ("I passed my driving test this morning.", "The user passed the user's driving test on 8 May 2023.", ["driving test", "8 may 2023"]),
    ("I joined a book club last month.", "The user joined a book club in April 2023.", ["book club", "april 2023"]),
    ("My son was born last year.", "The user's son was born in 2022.", ["son was born", "2022"]),
    ("I graduated from college 4 years ago.", "The user graduated from college in 2019.", ["graduated", "2019"]),
    ("I'm hosting a dinner party this Saturday.", "The user is hosting a dinner party on 13 May 2023.", ["dinner party", "13 may 2023"]),
    ("I went to a LGBTQ support group yesterday and it was so powerful.", "The user went to a LGBTQ support group on 7 May 2023 and it was so powerful.", ["lgbtq support group", "7 may 2023"]),
    ("I started learning the guitar a few weeks ago.", "The user started learning the guitar a few weeks before 8 May 2023.", ["guitar"]),
    ("I visited Rome last summer.", "The user visited Rome in the summer of 2022.", ["rome"]),
    ("My dog died last Sunday.", "The user's dog died on 7 May 2023.", ["dog died", "7 may 2023"]),
    ("I ran my first 10k yesterday.", "The user ran the user's first 10k on 7 May 2023.", ["10k", "7 may 2023"]),
    ("I'm moving house next month.", "The user is moving house in June 2023.", ["moving house", "june 2023"]),
    ("I took my family to the zoo last weekend.", "The user took the user's family to the zoo on the weekend of 6 May 2023.", ["zoo", "6 may 2023"]),
]

# (stored, message, index of the stored fact it repeats): already known, so NOOP.
DUPLICATES = [
    (["The user lives in Porto."], "I live in Porto.", 0), (["The user is vegetarian."], "I'm vegetarian.", 0),
    (["The user works at a bakery."], "I work at a bakery.", 0), (["The user has two cats."], "I have two cats.", 0),
    (["The user plays the cello."], "I play the cello.", 0), (["The user loves hiking."], "I love hiking.", 0),
    (["The user is allergic to shellfish."], "I'm allergic to shellfish.", 0),
    (["The user drives a blue Toyota."], "I drive a blue Toyota.", 0),
    (["The user speaks Portuguese."], "I speak Portuguese.", 0), (["The user teaches chemistry."], "I teach chemistry.", 0),
]

# (stored, message, [(fact, must)], [decision]): everyday phrasings written after the rules, to find their limits
# (dropped subjects, "used to", names, idioms); labelled with what a careful person would store.
HARD = [
    ([], "Just moved to Paris!", [("The user just moved to Paris.", ["paris"])], [{"op": "ADD", "target": None, "must": ["paris"]}]),
    ([], "Got a new job at Shopify.", [("The user got a new job at Shopify.", ["shopify"])], [{"op": "ADD", "target": None, "must": ["shopify"]}]),
    ([], "My name's Sam.", [("The user's name is Sam.", ["sam"])], [{"op": "ADD", "target": None, "must": ["sam"]}]),
    ([], "Not a fan of jazz, honestly.", [("The user is not a fan of jazz.", ["jazz"])], [{"op": "ADD", "target": None, "must": ["jazz"]}]),
    ([], "Me and my wife live in Lyon.", [("The user and the user's wife live in Lyon.", ["lyon"])], [{"op": "ADD", "target": None, "must": ["lyon"]}]),
    ([], "I used to live in Lisbon.", [("The user used to live in Lisbon.", ["used to live in lisbon"])], [{"op": "ADD", "target": None, "must": ["lisbon"]}]),
    ([], "Been living in Rome since 2019.", [("The user has been living in Rome since 2019.", ["rome"])], [{"op": "ADD", "target": None, "must": ["rome"]}]),
    ([], "I'm a huge Arsenal fan.", [("The user is a huge Arsenal fan.", ["arsenal"])], [{"op": "ADD", "target": None, "must": ["arsenal"]}]),
    ([], "Love sushi, hate olives.", [("The user loves sushi.", ["sushi"]), ("The user hates olives.", ["olives"])], [{"op": "ADD", "target": None, "must": ["sushi"]}, {"op": "ADD", "target": None, "must": ["olives"]}]),
    ([], "I think I'm going to quit my job.", [("The user is thinking of quitting the user's job.", ["quit"])], [{"op": "ADD", "target": None, "must": ["quit"]}]),
    ([], "I guess I'm a cat person.", [("The user is a cat person.", ["cat person"])], [{"op": "ADD", "target": None, "must": ["cat person"]}]),
    ([], "I recommend the dumplings at Lucky Star.", [("The user recommends the dumplings at Lucky Star.", ["dumplings"])], [{"op": "ADD", "target": None, "must": ["dumplings"]}]),
    ([], "It was my birthday yesterday.", [("The user's birthday is on 7 May.", ["7 may"])], [{"op": "ADD", "target": None, "must": ["7 may"]}]),
    ([], "My wife and I are expecting a baby in June.", [("The user and the user's wife are expecting a baby in June.", ["baby"])], [{"op": "ADD", "target": None, "must": ["baby"]}]),
    ([], "I told you, I'm allergic to wasps.", [("The user is allergic to wasps.", ["wasps"])], [{"op": "ADD", "target": None, "must": ["wasps"]}]),
    (["The user lives in Lyon."], "Paris is home now.", [("The user lives in Paris.", ["paris"])], [{"op": "SUPERSEDE", "target": 0, "must": ["paris"]}]),
    (["The user works at Google."], "I left Google for a startup.", [("The user left Google for a startup.", ["startup"])], [{"op": "SUPERSEDE", "target": 0, "must": ["startup"]}]),
    (["The user is dating Ben."], "Ben and I broke up.", [("The user and Ben broke up.", ["broke up"])], [{"op": "DELETE", "target": 0, "must": []}]),
    (["The user smokes."], "I've been smoke-free for a year now.", [("The user has been smoke-free for a year.", ["smoke-free"])], [{"op": "DELETE", "target": 0, "must": []}]),
    (["The user is allergic to nuts."], "Oops, it's peanuts I'm allergic to, not all nuts.", [("The user is allergic to peanuts.", ["peanuts"])], [{"op": "UPDATE", "target": 0, "must": ["peanuts"]}]),
    (["The user lives in Berlin."], "We moved from Berlin to Hamburg in March.", [("The user moved from Berlin to Hamburg in March.", ["hamburg"])], [{"op": "SUPERSEDE", "target": 0, "must": ["hamburg"]}]),
    ([], "Can you remind me what I said about Lyon?", [], []),
    ([], "I'm so tired today.", [], []),
    ([], "I'm not sure what you mean.", [], []),
    ([], "I'll think about it.", [], []),
]


def cases() -> list[dict[str, object]]:
    """Every case of the set, in a fixed order."""
    out: list[dict[str, object]] = []

    def add(kind: str, text: str, *, stored: list[str] | None = None, facts: list[tuple[str, list[str]]] = (),
            decisions: list[dict[str, object]] = ()) -> None:
        out.append({"id": f"{kind}-{sum(1 for c in out if c['kind'] == kind) + 1:03d}", "kind": kind,
                    "said_at": SAID, "stored": stored or [], "text": text,
                    "facts": [{"text": t, "must": m} for t, m in facts], "decisions": list(decisions)})

    for text, facts in STATEMENTS:
        add("statement", text, facts=facts, decisions=[{"op": "ADD", "target": None, "must": m} for _, m in facts])
    for text in CHIT_CHAT:
        add("chit_chat", text)
    for stored, text, fact, must, target in CORRECTIONS:
        add("correction", text, stored=stored, facts=[(fact, must)],
            decisions=[{"op": "UPDATE", "target": target, "must": must}])
    for stored, text, fact, must, target in CHANGES:
        add("contradiction", text, stored=stored, facts=[(fact, must)],
            decisions=[{"op": "SUPERSEDE", "target": target, "must": must}])
    for stored, text, target, fact in NEGATIONS:
        decision = {"op": "DELETE", "target": target, "must": []} if target is not None else \
            {"op": "ADD", "target": None, "must": fact[1]}  # type: ignore[index]
        # A retraction states the negative fact too ("I no longer eat meat."): any fact on the stored one's topic.
        # (no wording is labelled for it: only its topic word, cut to a stem, "smok" for "smokes"/"smoking").
        topic = (fact[0], fact[1]) if fact else ("", [stored[target].rstrip(".").split()[-1].lower()[:4]])  # type: ignore[index]
        add("negation", text, stored=stored, facts=[topic], decisions=[decision])
    for text, fact, must in RELATIVE:
        add("relative_time", text, facts=[(fact, must)], decisions=[{"op": "ADD", "target": None, "must": must}])
    for stored, text, target in DUPLICATES:
        key = stored[target].lower().removeprefix("the user ").rstrip(".")
        add("duplicate", text, stored=stored, facts=[(stored[target], [key.split(" ", 1)[-1]])],
            decisions=[{"op": "NOOP", "target": target, "must": []}])
    for stored, text, facts, decisions in HARD:
        add("hard", text, stored=stored, facts=facts, decisions=decisions)
    return out


if __name__ == "__main__":
    rows = cases()
    path = Path(__file__).with_name("facts_labelled.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} cases written to {path}")
