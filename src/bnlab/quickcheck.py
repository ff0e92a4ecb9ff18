"""Quick checks: each chapter's self-check questions, answered interactively in page or notebook.

The reader picks an option or types a number and is told at once whether it is right, with the
reason. jupyterquiz draws them (its script is embedded in the output, so they work offline, on
the website as in Jupyter, Colab and Binder). They are for self-study: none is a question of a
problem set. The longer self-check questions, with their answers folded away, follow in the text.
"""

#: Colours of the quizzes: the course palette, every text at a contrast of at least 4.5:1.
COLORS = {
    "--jq-multiple-choice-bg": "#1f4e79",
    "--jq-mc-button-bg": "#ffffff",
    "--jq-mc-button-border": "#5a6b7b",
    "--jq-mc-button-inset-shadow": "#555555",
    "--jq-many-choice-bg": "#7a3b00",
    "--jq-numeric-bg": "#1f4e79",
    "--jq-numeric-input-bg": "#ffffff",
    "--jq-numeric-input-label": "#ffffff",
    "--jq-numeric-input-shadow": "#999999",
    "--jq-string-bg": "#1f4e79",
    "--jq-incorrect-color": "#ffd7d0",
    "--jq-correct-color": "#c9f2d4",
    "--jq-text-color": "#ffffff",
    "--jq-link-color": "#cfe3ff",
}


def _choice(question, right, wrong):
    """A multiple-choice question: `right` and `wrong` are (answer, feedback) pairs."""
    answers = [{"answer": a, "correct": False, "feedback": f} for a, f in wrong]
    # the right answer's place varies from question to question (fixed, so a page is the same)
    answers.insert(
        len(question) % (len(wrong) + 1),
        {"answer": right[0], "correct": True, "feedback": right[1]},
    )
    return {"question": question, "type": "multiple_choice", "answers": answers}


def _number(question, value, feedback, precision=3):
    """A numeric question, right when the typed number rounds to `value` at `precision` digits."""
    return {
        "question": question,
        "type": "numeric",
        "precision": precision,
        "answers": [
            {"type": "value", "value": value, "correct": True, "feedback": feedback},
            {
                "type": "default",
                "feedback": "Not quite. Work it out on paper; the answers below show the steps.",
            },
        ],
    }


QUESTIONS = {
    "01": [
        _number(
            "A loaded die shows 6 with probability 1/2 and each other face with probability "
            "1/10. What is $E[X]$?",
            4.5,
            "Right: (1+2+3+4+5)/10 + 6/2 = 1.5 + 3 = 4.5.",
        ),
        _choice(
            "Is the computational formula $E[X^2] - E[X]^2$ the numerically preferred way to "
            "compute a variance in floating point?",
            (
                "No: it cancels catastrophically when the mean is large against the spread",
                "Right. Its relative error grows like $u(1 + \\mu^2/\\sigma^2)$; two passes or "
                "Welford's update are the sound choices.",
            ),
            [
                (
                    "Yes: one pass is always more accurate",
                    "One pass is convenient, not accurate: the two large sums nearly cancel.",
                ),
                (
                    "Yes, in float32 only",
                    "float32 makes the cancellation worse, not better.",
                ),
            ],
        ),
    ],
    "02": [
        _choice(
            "$X$ is uniform on $\\{-1, 0, 1\\}$ and $Y = |X|$. Which is true?",
            (
                "Uncorrelated but dependent",
                "Right: $E[XY] = E[X] = 0$, so the covariance is 0, yet $Y$ is a function of $X$.",
            ),
            [
                ("Correlated and dependent", "Compute $E[X|X|]$: the three terms cancel."),
                (
                    "Independent",
                    "Knowing $X = 0$ fixes $Y = 0$, while $P(Y = 0) = 1/3$.",
                ),
            ],
        ),
        _number(
            "What is the excess kurtosis of the exponential distribution?",
            6,
            "Right: Pearson kurtosis 9, minus 3.",
            precision=2,
        ),
    ],
    "03": [
        _number(
            "A data set has $n = 50\\,000$ examples and you draw $B = 25\\,000$ without "
            "replacement. By what factor is the gradient variance smaller than $\\Sigma/B$? "
            "(two digits)",
            0.5,
            "Right: $(n - B)/(n - 1) = 25\\,000/49\\,999 \\approx 0.5$.",
            precision=2,
        ),
        _choice(
            "You move from $B = 256$, $\\eta = 0.1$ to $B = 8\\,192$. What does the linear "
            "scaling rule suggest?",
            (
                "$\\eta = 3.2$, reached by a gradual warm-up",
                "Right: 32 times the batch, 32 times the rate, and warm-up for the first epochs.",
            ),
            [
                ("$\\eta = 0.1$: the rate does not depend on the batch", "The rule scales it."),
                (
                    "$\\eta \\approx 0.57$, a smaller step up",
                    "That is the square-root rule, not the linear one.",
                ),
            ],
        ),
    ],
    "04": [
        _number(
            "A batch of 16 images of shape (3, 32, 32) goes through `BatchNorm2d(3)`. How many "
            "values does each channel's mean pool?",
            16384,
            "Right: $16 \\cdot 32 \\cdot 32 = 16384$; `mu` has shape (3,).",
            precision=5,
        ),
        _choice(
            "With $\\epsilon = 10^{-5}$, what does BN output for a feature that is constant over "
            "the batch?",
            (
                "$\\beta$ for every example",
                "Right: $x_i - \\mu_B = 0$, so $\\hat x = 0$ and $y = \\beta$.",
            ),
            [
                ("NaN", "That happens with $\\epsilon = 0$: 0/0."),
                ("$\\gamma$ for every example", "$\\gamma$ multiplies $\\hat x = 0$."),
            ],
        ),
    ],
    "05": [
        _choice(
            "With $\\gamma = 0$, which gradients are zero?",
            (
                "$dx$ only; $d\\gamma$ and $d\\beta$ still learn",
                "Right: every path from $x$ passes through the product with $\\gamma$, but "
                "$d\\gamma = \\sum_i dy_i \\hat x_i$ and $d\\beta = \\sum_i dy_i$ do not depend "
                "on it.",
            ),
            [
                ("All three", "Look at the formulas for $d\\gamma$ and $d\\beta$."),
                ("None", "$dx$ carries the factor $\\gamma$."),
            ],
        ),
        _number(
            "Without computing anything: what is $\\sum_i dx_i$ for a BN layer?",
            0,
            "Right: shifting every input by a constant does not change $\\hat x$, so the loss "
            "has zero derivative along the vector of ones.",
            precision=1,
        ),
    ],
    "06": [
        _number(
            "A `BatchNorm1d` layer has seen 5 training batches with PyTorch's default momentum "
            "(0.1). What fraction of its running variance is still the initial value 1? "
            "(two digits)",
            0.59,
            "Right: $0.9^5 = 0.59$, more than half.",
            precision=2,
        ),
        _choice(
            "You port a model whose BN used Keras's `momentum=0.99` to PyTorch. Which `momentum` "
            "do you pass to `nn.BatchNorm1d`?",
            (
                "0.01",
                "Right: PyTorch's momentum is the weight of the new batch, $1 - \\alpha$. Also "
                "pass `eps=1e-3`, Keras's default.",
            ),
            [
                ("0.99", "The two conventions weight opposite terms."),
                ("0.9", "That is PyTorch's default written the Keras way, not this model's."),
            ],
        ),
    ],
    "07": [
        _choice(
            "Which is the pre-activation residual block?",
            (
                "BN, ReLU, conv, BN, ReLU, conv, add",
                "Right: nothing follows the addition, so the shortcut is an identity.",
            ),
            [
                (
                    "conv, BN, ReLU, conv, BN, add, ReLU",
                    "That is the original block: a ReLU follows the addition.",
                ),
            ],
        ),
        _number(
            "A layer of 256 features: how many operations per example does BN cost at inference "
            "as the affine map $s x + t$?",
            512,
            "Right: 2 per value, 0.39% of a 256-to-256 linear layer (and 0 once folded into it).",
            precision=3,
        ),
    ],
    "08": [
        _number(
            "You double every weight matrix in front of BN. By what factor does the relative "
            "change of a weight matrix per SGD step shrink?",
            4,
            "Right: the gradient halves and the weights double: the effective learning rate is "
            "$\\eta/\\|W\\|^2$.",
            precision=1,
        ),
        _choice(
            "With a batch of 2 in training mode, what does BN output for one feature (values "
            "$x_1 \\ne x_2$, $\\epsilon$ negligible, $\\gamma = 1$, $\\beta = 0$)?",
            (
                "$-1$ and $+1$",
                "Right: the layer passes on only which of the two is larger.",
            ),
            [
                ("$x_1$ and $x_2$ unchanged", "Both are centred and scaled by the pair's spread."),
                ("0 and 0", "That is a constant feature; here the values differ."),
            ],
        ),
    ],
    "09": [
        _number(
            "Four processes hold 6, 6, 6 and 2 examples, with means 1, 1, 1 and 11. What is the "
            "mean of the batch?",
            2,
            "Right: $(6 + 6 + 6 + 22)/20 = 2$. The average of the four means, 3.5, weights the "
            "slice of 2 as much as the others.",
            precision=2,
        ),
        _choice(
            "Why can the backward pass of synchronized BN all-reduce, while the forward pass "
            "all-gathers its statistics?",
            (
                "The backward pass needs only sums over the batch, and sums add across processes",
                "Right: the merge of means and variances needs the global mean first.",
            ),
            [
                ("The backward pass is smaller", "Size is not the reason: the operation is."),
                ("All-reduce is not allowed in the forward pass", "It is allowed, in two rounds."),
            ],
        ),
    ],
}


def questions(chapter):
    """The self-check questions of `chapter` (its number, "01" to "09")."""
    if chapter not in QUESTIONS:
        raise ValueError(f"chapter must be one of {sorted(QUESTIONS)}, got {chapter!r}")
    return QUESTIONS[chapter]


# jupyterquiz's script typesets its questions half a second after it runs, with MathJax.typeset.
# On the website MathJax 3 loads after the page (deferred): on a slow load it was still only its
# configuration then, and the script failed (reading MathJax.version[0]) or fetched MathJax from a
# CDN. So the script runs (in the global scope, as it would inline) once MathJax has started, or
# at once where there is no page-wide MathJax (Jupyter, Colab), or after WAIT_MS anyway. Then the
# box where the reader types a number gets its label (the text beside it), so a screen reader
# names it (axe-core: label).
WAIT_MS = 30_000
_WHEN_MATHJAX_IS_READY = """
(function (script) {
  var label = function () {
    document.querySelectorAll(".Quiz input.Input-text").forEach(function (input) {
      var text = input.parentElement.querySelector("label.InpLabel");
      if (text && !text.htmlFor) text.htmlFor = input.id;
    });
  };
  var run = function () { (0, eval)(script); label(); setTimeout(label, 1000); };
  var waited = 0;
  (function poll() {
    var mj = window.MathJax;
    if (mj === undefined || String(mj.version || "").charAt(0) === "2" || waited > %d) {
      run();
    } else if (mj.version && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(run, run);
    } else {
      waited += 50;
      setTimeout(poll, 50);
    }
  })();
})(%s);
"""


def show(chapter):
    """Display the interactive self-check of `chapter` (in Jupyter and in the built book)."""
    import json

    from IPython.display import HTML, Javascript, display
    from IPython.utils.capture import capture_output
    from jupyterquiz import display_quiz

    with capture_output() as drawn:
        display_quiz(questions(chapter), shuffle_answers=False, colors=COLORS, max_width=680)
    for output in drawn.outputs:
        if "application/javascript" in output.data:
            script = output.data["application/javascript"]
            display(Javascript(_WHEN_MATHJAX_IS_READY % (WAIT_MS, json.dumps(script))))
        else:
            display(HTML(output.data["text/html"]))
