using System.Runtime.InteropServices;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.Training;
using static BottleneckPipeline.Tests.Fixtures.TestModel;

namespace BottleneckPipeline.Tests.Training;

/// <summary>A whole small conv net, built here, trained through the engine with a softmax head.</summary>
public class NetworkTrainingTests
{
    private const int Classes = 3;

    /// <summary>A residual CNN in miniature: conv-BN-relu stem, max pool, a residual block, a strided
    /// block with a 1x1 projection, a pad + average-pool branch concatenated back, global pooling.</summary>
    private static (TestModel Model, string Features) SmallNet(long seed = 1)
    {
        var m = new TestModel([2, 3, 8, 8], seed: seed);
        string ConvBn(string x, string name, long cin, long cout, long k, long stride, long[] pads)
        {
            var c = m.Node("Conv", [x, m.Weight(name + ".w", [cout, cin, k, k], Math.Sqrt(1.0 / (cin * k * k)))],
                Ints("kernel_shape", k, k), Ints("strides", stride, stride), Ints("pads", pads));
            return m.Node("BatchNormalization", [c, .. m.BatchNormInputs(name + ".bn", cout)]);
        }
        var stem = m.Node("Relu", [ConvBn(m.Input, "stem", 3, 6, 3, 1, [1, 1, 1, 1])]);
        var pooled = m.Node("MaxPool", [stem], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 0, 0));
        var a = m.Node("Relu", [ConvBn(pooled, "block1a", 6, 6, 3, 1, [1, 1, 1, 1])]);
        var block1 = m.Node("Relu", [m.Node("Add", [ConvBn(a, "block1b", 6, 6, 3, 1, [1, 1, 1, 1]), pooled])]);
        var b = m.Node("Relu", [ConvBn(block1, "block2a", 6, 8, 3, 2, [1, 1, 0, 0])]);
        var shortcut = ConvBn(block1, "block2s", 6, 8, 1, 2, [0, 0, 0, 0]);
        var block2 = m.Node("Relu", [m.Node("Add", [ConvBn(b, "block2b", 8, 8, 3, 1, [1, 1, 1, 1]), shortcut])]);
        var padded = m.Node("Pad", [block2, m.Int64s("pads", 0, 0, 1, 1, 0, 0, 1, 1)]);
        var branch = m.Node("AveragePool", [padded], Ints("kernel_shape", 3, 3));
        var joined = m.Node("Concat", [block2, branch], Int("axis", 1));
        var features = m.Node("Flatten", [m.Node("GlobalAveragePool", [joined])], Int("axis", 1));
        m.Output(features);
        return (m, features);
    }

    private static SoftmaxHead RandomHead(int dimension, long seed)
    {
        var w = GradientCheck.Gaussian(Classes * dimension, seed, 0.3).Select(v => (float)v).ToArray();
        var b = GradientCheck.Gaussian(Classes, seed + 1, 0.1).Select(v => (float)v).ToArray();
        return new SoftmaxHead(w, b, ["a", "b", "c"], dimension);
    }

    private static float[] OneHot(int[] labels)
    {
        var t = new float[labels.Length * Classes];
        for (var i = 0; i < labels.Length; i++) t[i * Classes + labels[i]] = 1;
        return t;
    }

    [Fact]
    public void Every_weight_of_a_small_conv_net_and_its_head_matches_central_differences()
    {
        var (m, features) = SmallNet();
        var head = RandomHead(16, 5);
        var values = new Dictionary<string, double[]>
        {
            [m.Input] = GradientCheck.Gaussian(2 * 3 * 64, 9),
            [SoftmaxCrossEntropy.Targets] = [1, 0, 0, 0, 0.1, 0.9],
            [SoftmaxCrossEntropy.HeadWeight] = [.. head.Weights.Select(v => (double)v)],
            [SoftmaxCrossEntropy.HeadBias] = [.. head.Bias.Select(v => (double)v)],
        };
        // float32 (Conv has no float64 kernel). A step of 1e-4: at 1e-3 a stem weight already flips some
        // Relu and max-pool winners downstream. The loss is near 1, so float32 round-off over 2h is
        // about 1e-3 of the gradients; the tolerance is 2e-2 of each tensor's largest gradient.
        var report = GradientCheck.Run(m.Region(features), new SoftmaxCrossEntropy(Classes), values, checkInput: true,
            maxPerTensor: 60, precision: new GradientCheck.Precision(1e-4, 2e-2, 2e-3));
        Assert.Equal(m.Weights.Count + 2, report.Analytic.Count - 1);
        report.AssertClean();
    }

    [Fact]
    public void One_step_lowers_the_loss_on_a_fixed_batch()
    {
        var (m, features) = SmallNet();
        using var session = Session(m, features, OptimizerName.Sgd, 0.01);
        var x = GradientCheck.Gaussian(8 * 3 * 64, 2).Select(v => (float)v).ToArray();
        var targets = OneHot([0, 1, 2, 0, 1, 2, 0, 1]);
        var before = session.Score(x, targets, 8).Loss;
        var stepLoss = session.Step(x, targets, 8).Loss;
        var after = session.Score(x, targets, 8).Loss;
        Assert.Equal(before, stepLoss, 5);
        Assert.True(after < before, $"loss {before} -> {after}");
    }

    [Fact]
    public void The_same_seed_gives_bitwise_identical_weights_and_another_seed_does_not()
    {
        var first = Train(seed: 42);
        var again = Train(seed: 42);
        var other = Train(seed: 43);
        Assert.True(MemoryMarshal.AsBytes(first.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(again.AsSpan())), "same seed, different weights");
        Assert.False(MemoryMarshal.AsBytes(first.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(other.AsSpan())), "another seed gave the same weights");
    }

    [Fact]
    public void An_anchor_adds_strength_times_the_distance_to_it_to_every_gradient()
    {
        var (m, features) = SmallNet();
        var region = m.Region(features);
        var loss = new SoftmaxCrossEntropy(Classes);
        TrainingSession Plain() => TrainingSession.Create(TrainingGraphBuilder.Build(region, loss), null, RandomHead(16, 5),
            n => Optimizer.Create(OptimizerName.Sgd, 0.01, 0, n), threads: 2);
        using var free = Plain();
        using var anchored = Plain();
        var anchor = anchored.Weights.Select(w => w + 1f).ToArray(); // every weight 1 below its anchor
        var x = GradientCheck.Gaussian(4 * 3 * 64, 6).Select(v => (float)v).ToArray();
        var targets = OneHot([0, 1, 2, 0]);
        free.Step(x, targets, 4);
        anchored.Step(x, targets, 4, anchor: anchor, anchorStrength: 0.5f);
        // Plain SGD: the anchored step moved every weight a further lr x 0.5 x 1 = 0.005 toward its anchor.
        for (var i = 0; i < free.Weights.Length; i++) Assert.Equal(0.005f, anchored.Weights[i] - free.Weights[i], 1e-5f);
    }

    /// <summary>Six Adam steps on batches of 4 drawn by the seed from 16 fixed examples.</summary>
    private static float[] Train(long seed)
    {
        var (m, features) = SmallNet();
        using var session = Session(m, features, OptimizerName.Adam, 0.01);
        var data = GradientCheck.Gaussian(16 * 3 * 64, 3).Select(v => (float)v).ToArray();
        var labels = Enumerable.Range(0, 16).Select(i => i % Classes).ToArray();
        var random = new SeededRandom(seed);
        var order = Enumerable.Range(0, 16).ToArray();
        for (var step = 0; step < 6; step++)
        {
            if (step % 4 == 0) random.Shuffle(order);
            var batch = order.Skip(step % 4 * 4).Take(4).ToArray();
            var x = batch.SelectMany(i => data.AsSpan(i * 192, 192).ToArray()).ToArray();
            session.Step(x, OneHot([.. batch.Select(i => labels[i])]), 4, weightDecay: 1e-4f);
        }
        return session.Weights.ToArray();
    }

    private static TrainingSession Session(TestModel m, string features, OptimizerName optimizer, double learningRate, int microBatch = 0)
    {
        var region = m.Region(features);
        var loss = new SoftmaxCrossEntropy(Classes);
        return TrainingSession.Create(TrainingGraphBuilder.Build(region, loss), TrainingGraphBuilder.Build(region, loss, backward: false),
            RandomHead(16, 5), n => Optimizer.Create(optimizer, learningRate, 0.9, n), threads: 2, microBatch: microBatch);
    }

    /// <summary>A batch of 7 run as micro-batches of 3 (3 + 3 + 1): the same mean loss, probabilities and gradients as the
    /// whole batch in one run (to float32 rounding of the order of the sums), and bitwise the same from run to run.</summary>
    [Fact]
    public void Micro_batches_give_the_whole_batch_loss_and_gradients()
    {
        var (m, features) = SmallNet();
        var x = GradientCheck.Gaussian(7 * 3 * 64, 4).Select(v => (float)v).ToArray();
        var targets = OneHot([0, 1, 2, 0, 1, 2, 2]);
        float[] Gradients(TrainingSession s) => [.. s.Parameters.SelectMany(p => s.GradientOf(p.Name).ToArray())];
        using var whole = Session(m, features, OptimizerName.Sgd, 0.01);
        using var parts = Session(m, features, OptimizerName.Sgd, 0.01, microBatch: 3);
        using var partsAgain = Session(m, features, OptimizerName.Sgd, 0.01, microBatch: 3);
        var wholeResult = whole.Gradients(x, targets, 7);
        var partResult = parts.Gradients(x, targets, 7);
        partsAgain.Gradients(x, targets, 7);
        Assert.Equal(wholeResult.Loss, partResult.Loss, 5);
        for (var i = 0; i < wholeResult.Probabilities.Length; i++) Assert.Equal(wholeResult.Probabilities[i], partResult.Probabilities[i], 5);
        var (g, gp) = (Gradients(whole), Gradients(parts));
        var scale = g.Max(Math.Abs);
        Assert.True(scale > 0);
        for (var i = 0; i < g.Length; i++) Assert.True(Math.Abs(g[i] - gp[i]) <= 1e-5 * scale, $"gradient {i}: whole batch {g[i]}, micro-batches {gp[i]}");
        Assert.True(MemoryMarshal.AsBytes(Gradients(parts).AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(Gradients(partsAgain).AsSpan())),
            "micro-batches differ run to run");
        Assert.Equal(parts.Score(x, targets, 7).Loss, whole.Score(x, targets, 7).Loss, 5);
    }

    [Fact]
    public void An_op_without_a_gradient_rule_is_an_error_naming_it_when_the_graph_is_built()
    {
        var m = new TestModel([2, 3, 4, 4]);
        var frozen = m.Node("LRN", [m.Input], Int("size", 3)); // before the cut: never differentiated
        var conv = m.Node("Conv", [frozen, m.Weight("w", [4, 3, 3, 3])], Ints("pads", 1, 1, 1, 1));
        var lrn = m.Node("LRN", [conv], Int("size", 3));
        var features = m.Node("Flatten", [m.Node("GlobalAveragePool", [lrn])]);
        var region = m.Region(features) with { CutTensor = frozen };
        var e = Assert.Throws<UnsupportedOperatorException>(() => TrainingGraphBuilder.Build(region, new SoftmaxCrossEntropy(Classes)));
        Assert.Equal("LRN", e.OpType);
        Assert.Equal("lrn_2", e.NodeName);
        Assert.Contains("'lrn_2' (op LRN)", e.Message);
        Assert.Equal(BottleneckPipeline.Runtime.ExitCodes.BadConfig, e.ExitCode);

        // Cut after it, the same graph trains.
        var after = m.Region(features) with { CutTensor = lrn, CutShape = [-1, 4, 4, 4], Trainable = new HashSet<string>() };
        Assert.NotEmpty(TrainingGraphBuilder.Build(after, new SoftmaxCrossEntropy(Classes)).Parameters);
    }

    [Fact]
    public void A_grouped_convolution_is_refused_with_the_reason()
    {
        var m = new TestModel([2, 4, 4, 4]);
        var conv = m.Node("Conv", [m.Input, m.Weight("w", [4, 2, 3, 3])], Int("group", 2), Ints("pads", 1, 1, 1, 1));
        var features = m.Node("Flatten", [m.Node("GlobalAveragePool", [conv])]);
        var e = Assert.Throws<UnsupportedOperatorException>(() => TrainingGraphBuilder.Build(m.Region(features), new SoftmaxCrossEntropy(Classes)));
        Assert.Contains("group=2", e.Message);
    }
}
