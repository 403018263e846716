namespace BottleneckPipeline.Runtime;

/// <summary>Linux errno values, as .NET reports them in an IOException's HResult (the raw errno, for
/// errors it has no exception type of its own for).</summary>
internal static class Errno
{
    public const int WouldBlock = 11;          // EWOULDBLOCK/EAGAIN: a lock held elsewhere
    public const int NoSpace = 28;             // ENOSPC: no free blocks or inodes
    public const int ReadOnlyFileSystem = 30;  // EROFS
    public const int QuotaExceeded = 122;      // EDQUOT

    /// <summary>The errno an exception (or one it wraps) carries, when it is an IOException.</summary>
    public static bool Is(Exception e, params int[] codes) =>
        e is IOException io && codes.Contains(io.HResult & 0xFFFF) || e.InnerException is { } inner && Is(inner, codes);
}
