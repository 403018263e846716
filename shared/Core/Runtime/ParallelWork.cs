

namespace BottleneckPipeline.Runtime;

/// <summary>
/// Splits a loop into fixed chunks and runs them on up to MaxDegreeOfParallelism threads. Chunk
/// boundaries do not depend on the thread count, and each chunk writes only its own outputs, so
/// results are bitwise identical however many threads run. Small loops run inline: thread hand-off
/// costs more than a few million multiply-adds (measured: bench train-head).
/// </summary>
public readonly struct ParallelWork(int maxDegreeOfParallelism, long minWorkToSplit = ParallelWork.DefaultMinWorkToSplit)
{
    public const long DefaultMinWorkToSplit = 1L << 22;

    public int MaxDegreeOfParallelism { get; } = Math.Max(1, maxDegreeOfParallelism);
    public long MinWorkToSplit { get; } = minWorkToSplit;

    /// <param name="count">loop length.</param>
    /// <param name="workPerItem">rough multiply-adds per item, to decide whether splitting pays.</param>
    /// <param name="body">runs items [from, to).</param>
    public void For(int count, long workPerItem, Action<int, int> body)
    {
        if (MaxDegreeOfParallelism == 1 || count < 2 || count * workPerItem < MinWorkToSplit)
        {
            body(0, count);
            return;
        }
        var chunks = Math.Min(count, 16);
        var size = (count + chunks - 1) / chunks;
        Parallel.For(0, (count + size - 1) / size, new ParallelOptions { MaxDegreeOfParallelism = MaxDegreeOfParallelism },
            k => body(k * size, Math.Min(count, (k + 1) * size)));
    }
}
