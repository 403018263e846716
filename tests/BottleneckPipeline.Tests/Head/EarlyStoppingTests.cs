using BottleneckPipeline.Head;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Tests.Head;

/// <summary>The one early-stopping rule both trainers use: higher validation accuracy, then lower validation loss.</summary>
public class EarlyStoppingTests
{
    private static SplitScore Score(double accuracy, double loss) => new(loss, accuracy);

    [Fact]
    public void Higher_accuracy_wins_even_with_a_higher_loss()
    {
        Assert.True(EarlyStopping.IsBetter(Score(0.84, 0.45), Score(0.83, 0.40)));
        Assert.False(EarlyStopping.IsBetter(Score(0.83, 0.40), Score(0.84, 0.45)));
    }

    [Fact]
    public void At_equal_accuracy_the_lower_loss_wins_and_an_exact_tie_is_not_better()
    {
        Assert.True(EarlyStopping.IsBetter(Score(0.83, 0.41), Score(0.83, 0.42)));
        Assert.False(EarlyStopping.IsBetter(Score(0.83, 0.42), Score(0.83, 0.41)));
        Assert.False(EarlyStopping.IsBetter(Score(0.83, 0.42), Score(0.83, 0.42)));
        Assert.True(EarlyStopping.IsBetter(Score(0.10, 9.0), SplitScore.None)); // anything beats no score
    }

    [Fact]
    public void Stops_after_patience_evaluations_in_a_row_without_a_better_one_keeping_the_best()
    {
        var stopping = new EarlyStopping(patience: 2);
        Assert.True(stopping.Observe(1, Score(0.80, 0.50)));
        Assert.True(stopping.Observe(2, Score(0.82, 0.55))); // accuracy up, loss up: better
        Assert.False(stopping.Observe(3, Score(0.82, 0.56)));
        Assert.False(stopping.ShouldStop);
        Assert.True(stopping.Observe(4, Score(0.82, 0.54))); // a tie on accuracy broken by the loss resets the count
        Assert.False(stopping.Observe(5, Score(0.81, 0.30))); // a far lower loss does not make up for an image fewer
        Assert.False(stopping.ShouldStop);
        Assert.False(stopping.Observe(6, Score(0.82, 0.54)));
        Assert.True(stopping.ShouldStop);
        Assert.Equal((4, Score(0.82, 0.54), 2), (stopping.BestAt, stopping.Best, stopping.WithoutImprovement));
    }

    [Fact]
    public void Patience_zero_never_stops()
    {
        var stopping = new EarlyStopping(patience: 0);
        stopping.Observe(1, Score(0.9, 0.1));
        for (var i = 2; i < 100; i++) Assert.False(stopping.Observe(i, Score(0.5, 1.0)));
        Assert.False(stopping.ShouldStop);
        Assert.Equal(1, stopping.BestAt);
    }

    [Fact]
    public void Without_validation_every_evaluation_is_the_best_so_the_last_is_kept()
    {
        var stopping = new EarlyStopping(patience: 1);
        for (var i = 1; i <= 5; i++) Assert.True(stopping.Observe(i, SplitScore.None));
        Assert.Equal(5, stopping.BestAt);
        Assert.False(stopping.ShouldStop);
    }

    [Fact]
    public void A_restored_state_goes_on_as_the_original_would()
    {
        var original = new EarlyStopping(patience: 3);
        original.Observe(1, Score(0.8, 0.5));
        original.Observe(2, Score(0.7, 0.5));
        var restored = EarlyStopping.Restore(3, original.Best, original.BestAt, original.WithoutImprovement);
        foreach (var s in new[] { Score(0.75, 0.4), Score(0.8, 0.6) })
            Assert.Equal(original.Observe(3, s), restored.Observe(3, s));
        Assert.Equal((original.Best, original.BestAt, original.WithoutImprovement, original.ShouldStop),
            (restored.Best, restored.BestAt, restored.WithoutImprovement, restored.ShouldStop));
        Assert.True(restored.ShouldStop);
    }
}
