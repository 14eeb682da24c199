import '../../scripts/lib/polyfills';
