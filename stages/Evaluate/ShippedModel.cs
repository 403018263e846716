using System.Globalization;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate;

/// <summary>One candidate model's figures on the validation split: what the shipping rule compares.</summary>
/// <param name="Loss">mean cross-entropy (natural log) of the true class.</param>
internal sealed record ValidationScore(string Model, Accuracy Accuracy, double Loss);

/// <summary>
/// Which model Evaluate ships as model.onnx, by a rule stated here and applied to the validation
/// split only (the test split is never used to choose): the higher validation accuracy, then the
/// lower validation loss; a tie ships the head alone, the simpler model. <c>evaluate.ship</c> can
/// force either model, and says so in the report.
/// </summary>
/// <param name="Model">the model that ships: "head only" or the fine-tuned network's name.</param>
/// <param name="Policy">evaluate.ship: auto (the rule), head or fine-tuned.</param>
/// <param name="Reason">why, in a sentence with the figures.</param>
/// <param name="Validation">every candidate's validation figures, the head alone first.</param>
internal sealed record ShippedModel(string Model, ShipPolicy Policy, string Rule, string Reason, ValidationScore[] Validation)
{
    public const string HeadOnly = "head only";

    public const string StatedRule = SplitScore.Rule + "; a tie ships the head alone (the simpler model)";

    /// <summary>Applies the rule (or the forced policy) to the head alone and, when there is one, the fine-tuned network.</summary>
    public static ShippedModel Choose(ValidationScore headOnly, ValidationScore? fineTuned, ShipPolicy policy)
    {
        if (fineTuned is null)
            return new(HeadOnly, policy, StatedRule, "the head alone is the only model", [headOnly]);
        ValidationScore[] both = [headOnly, fineTuned];
        switch (policy)
        {
            case ShipPolicy.Head:
                return new(HeadOnly, policy, StatedRule, "forced by evaluate.ship: head", both);
            case ShipPolicy.FineTuned:
                return new(fineTuned.Model, policy, StatedRule, "forced by evaluate.ship: fine-tuned", both);
        }
        if (headOnly.Accuracy.Images == 0)
            return new(HeadOnly, policy, StatedRule,
                "the validation split is empty, so nothing shows the fine-tuned network is better: the simpler model ships", both);
        // The trainers' own rule (SplitScore), on one validation split: a tie is no win, so the head alone keeps it.
        var tunedWins = new SplitScore(fineTuned.Loss, fineTuned.Accuracy.Value).IsBetterThan(new SplitScore(headOnly.Loss, headOnly.Accuracy.Value));
        var (winner, loser) = tunedWins ? (fineTuned, headOnly) : (headOnly, fineTuned);
        var how = winner.Accuracy.Correct != loser.Accuracy.Correct
            ? $"validation accuracy {winner.Accuracy.Percent} against {loser.Accuracy.Percent} " +
              $"({winner.Accuracy.Correct} against {loser.Accuracy.Correct} of {winner.Accuracy.Images})"
            : winner.Loss < loser.Loss
                ? string.Create(CultureInfo.InvariantCulture,
                    $"the same validation accuracy ({winner.Accuracy.Percent}), lower validation loss ({winner.Loss:0.000} against {loser.Loss:0.000})")
                : $"a tie on validation ({winner.Accuracy.Percent}, the same loss): the simpler model ships";
        return new(winner.Model, policy, StatedRule, $"{winner.Model} over {loser.Model}: {how}", both);
    }
}
