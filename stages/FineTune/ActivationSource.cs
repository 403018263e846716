using System.Runtime.ExceptionServices;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// Where the trainable part's input comes from for each example and view: the prefix cache
/// (trainable: last-stage, last-2-stages) or the image itself, augmented on the fly (trainable: all).
/// </summary>
internal abstract class ActivationSource(IReadOnlyList<FineTuneExample> examples, int valuesPerExample)
{
    public IReadOnlyList<FineTuneExample> Examples { get; } = examples;
    public int Count => Examples.Count;
    public int ValuesPerExample { get; } = valuesPerExample;

    /// <summary>The training view an example gets in an epoch, drawn from that epoch's generator.</summary>
    public abstract int DrawView(int epoch, Training.SeededRandom random);

    public abstract void Write(int index, int view, Span<float> dest);

    /// <summary>Fills a batch's rows side by side; a user error inside keeps its own type (and exit code).</summary>
    public void WriteBatch(ReadOnlySpan<int> indices, ReadOnlySpan<int> views, float[] dest, CancellationToken ct)
    {
        var (i, v) = (indices.ToArray(), views.ToArray());
        InParallel(i.Length, ct, k => Write(i[k], v[k], dest.AsSpan(k * ValuesPerExample, ValuesPerExample)));
    }

    public static void InParallel(int count, CancellationToken ct, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, new ParallelOptions { CancellationToken = ct }, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
