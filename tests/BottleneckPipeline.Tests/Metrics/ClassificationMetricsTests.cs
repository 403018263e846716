using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Tests.Metrics;

public class ClassificationMetricsTests
{
    private static readonly string[] Labels = ["cat", "dog", "fox"];

    // Ten examples. Each row: true label, probabilities (cat, dog, fox).
    private static readonly (int Label, float[] P)[] Examples =
    [
        (0, [0.7f, 0.2f, 0.1f]), // cat -> cat
        (0, [0.6f, 0.3f, 0.1f]), // cat -> cat
        (0, [0.2f, 0.5f, 0.3f]), // cat -> dog (cat after dog and fox: rank 2)
        (0, [0.1f, 0.1f, 0.8f]), // cat -> fox (cat ties dog; lower index first: cat rank 1)
        (1, [0.1f, 0.8f, 0.1f]), // dog -> dog
        (1, [0.3f, 0.6f, 0.1f]), // dog -> dog
        (1, [0.5f, 0.4f, 0.1f]), // dog -> cat (dog rank 1)
        (2, [0.1f, 0.2f, 0.7f]), // fox -> fox
        (2, [0.2f, 0.2f, 0.6f]), // fox -> fox
        (2, [0.2f, 0.7f, 0.1f]), // fox -> dog (fox rank 2)
    ];

    [Fact]
    public void Figures_match_a_hand_computed_confusion_matrix()
    {
        var m = ClassificationMetrics.Compute(Examples.Select(e => e.Label).ToArray(), Examples.Select(e => e.P).ToArray(), Labels, topK: 2);

        // rows true, columns predicted
        int[][] expected = [[2, 1, 1], [1, 2, 0], [0, 1, 2]];
        Assert.Equal(expected, m.ConfusionMatrix);
        Assert.Equal(10, m.Count);
        Assert.Equal(0.6, m.Accuracy.Value, 12);
        Assert.Equal(6, m.Accuracy.Correct);
        // top-2 misses: example 3 (cat rank 2) and example 10 (fox rank 2) -> 8/10
        Assert.Equal(0.8, m.TopKAccuracy.Value, 12);

        // cat: tp 2, predicted 3, support 4 -> P 2/3, R 1/2, F1 4/7
        AssertClass(new ClassMetrics("cat", 2.0 / 3, 0.5, 4.0 / 7, 4), m.PerClass[0]);
        // dog: tp 2, predicted 4, support 3 -> P 1/2, R 2/3, F1 4/7
        AssertClass(new ClassMetrics("dog", 0.5, 2.0 / 3, 4.0 / 7, 3), m.PerClass[1]);
        // fox: tp 2, predicted 3, support 3 -> P 2/3, R 2/3, F1 2/3
        AssertClass(new ClassMetrics("fox", 2.0 / 3, 2.0 / 3, 2.0 / 3, 3), m.PerClass[2]);
        Assert.Equal((4.0 / 7 + 4.0 / 7 + 2.0 / 3) / 3, m.MacroF1, 12);
    }

    [Fact]
    public void Top_k_covering_every_class_is_one_and_top_1_is_accuracy()
    {
        var labels = Examples.Select(e => e.Label).ToArray();
        var probs = Examples.Select(e => e.P).ToArray();
        Assert.Equal(1.0, ClassificationMetrics.Compute(labels, probs, Labels, 3).TopKAccuracy.Value);
        Assert.Equal(0.6, ClassificationMetrics.Compute(labels, probs, Labels, 1).TopKAccuracy.Value, 12);
    }

    [Fact]
    public void Never_predicted_class_has_zero_precision_not_nan()
    {
        var m = ClassificationMetrics.Compute([0, 1], [[0.9f, 0.1f, 0], [0.8f, 0.2f, 0]], Labels, 1);
        Assert.Equal(0, m.PerClass[1].Precision);
        Assert.Equal(0, m.PerClass[2].Recall);
        Assert.Equal(0, m.PerClass[2].F1);
        Assert.Equal(0.5, m.PerClass[0].Precision);
    }

    [Fact]
    public void Misclassified_lists_wrong_predictions_most_confident_first()
    {
        var paths = Examples.Select((_, i) => $"img{i}.jpg").ToArray();
        var wrong = Misclassification.List(paths, Examples.Select(e => e.Label).ToArray(), Examples.Select(e => e.P).ToArray(), Labels, topK: 2);
        static LabelProbability[] Top(string a, float pa, string b, float pb) => [new(a, pa), new(b, pb)];
        Assert.Equal(
            [
                new("img3.jpg", "cat", "fox", 0.8f, Top("fox", 0.8f, "cat", 0.1f)), // cat ties dog: lower index first
                new("img9.jpg", "fox", "dog", 0.7f, Top("dog", 0.7f, "cat", 0.2f)),
                new("img2.jpg", "cat", "dog", 0.5f, Top("dog", 0.5f, "fox", 0.3f)),
                new Misclassification("img6.jpg", "dog", "cat", 0.5f, Top("cat", 0.5f, "dog", 0.4f)),
            ],
            wrong);
        Assert.NotEqual(wrong[0], wrong[0] with { TopK = Top("fox", 0.8f, "dog", 0.1f) });
    }

    [Fact]
    public void Top_classes_are_ordered_by_probability()
    {
        Assert.Equal([2, 0], ClassificationMetrics.TopClasses([0.2f, 0.1f, 0.7f], 2));
        Assert.Equal([0, 1, 2], ClassificationMetrics.TopClasses([0.4f, 0.4f, 0.2f], 5));
    }

    private static void AssertClass(ClassMetrics expected, ClassMetrics actual)
    {
        Assert.Equal(expected.Label, actual.Label);
        Assert.Equal(expected.Support, actual.Support);
        Assert.Equal(expected.Precision, actual.Precision, 12);
        Assert.Equal(expected.Recall, actual.Recall, 12);
        Assert.Equal(expected.F1, actual.F1, 12);
    }
}
