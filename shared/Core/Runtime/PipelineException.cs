namespace BottleneckPipeline.Runtime;

/// <summary>Process exit codes, documented in the README's exit-code table and docs/troubleshooting.md.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int InternalFailure = 1;
    public const int BadConfig = 2;
    public const int BadInput = 3;
    public const int LockHeld = 4;
    public const int Interrupted = 130;
}

/// <summary>An error the user can act on: its message names the file, key or line and what to do.</summary>
public class PipelineException(int exitCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

public sealed class ConfigException(string message) : PipelineException(ExitCodes.BadConfig, message);

public sealed class InputException(string message, Exception? inner = null) : PipelineException(ExitCodes.BadInput, message, inner);

internal sealed class LockHeldException(string message) : PipelineException(ExitCodes.LockHeld, message);

/// <summary>
/// The index's file is damaged (a flipped bit, a torn disk block): SQLite says so, or a value read
/// from it is impossible. Exit 3, naming the file and the fix, which loses nothing: the index is
/// rebuilt from the dataset by Ingest, and the vectors live in the cache, keyed by content.
/// </summary>
internal sealed class IndexCorruptException(string indexPath, string detail, Exception? inner = null)
    : PipelineException(ExitCodes.BadInput, $"index {indexPath} is corrupt ({OneLine(detail)}). {Advice}", inner)
{
    /// <summary>What to do about a damaged (or otherwise unusable) index.</summary>
    public const string Advice = "Delete it (and its -wal and -shm files beside it) and run Ingest again (make ingest): " +
                                 "Ingest rebuilds the index from the dataset, and the bottleneck cache keeps every vector, so nothing is embedded again.";

    public string IndexPath { get; } = indexPath;
    public string Detail { get; } = OneLine(detail);

    /// <summary>SQLite's words on one line and short: integrity_check lists its findings over many
    /// lines, and a malformed schema's error quotes the damaged SQL.</summary>
    private static string OneLine(string detail)
    {
        var words = string.Join(' ', detail.Replace("*** in database main ***", "", StringComparison.Ordinal)
            .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return words.Length <= 300 ? words : words[..300] + "...";
    }
}

/// <summary>
/// A value read back from the index fails validation (a content id that is not 64 hex digits):
/// the index is damaged. Thrown where the index's path is not known; the stage host reports it as
/// an <see cref="IndexCorruptException"/> naming the index.
/// </summary>
internal sealed class IndexValueException(string detail)
    : PipelineException(ExitCodes.BadInput, $"the index holds an impossible value: {detail}. {IndexCorruptException.Advice}")
{
    public string Detail { get; } = detail;
}
